"""The console as one ASGI app: static files by Starlette, everything else by Django, request bodies bounded in
front of both."""

import os
from typing import Any, cast

from django.conf import settings
from django.core.asgi import get_asgi_application
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from cmsf.api.bounds import MAX_BODY_BYTES as API_BODY_BYTES
from cmsf.project.limits import BodyLimit

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cmsf.project.settings")
django_application = get_asgi_application()

routed = Starlette(
    routes=[
        Mount(settings.STATIC_URL.rstrip("/"), app=StaticFiles(directory=settings.STATIC_ROOT, check_dir=False)),
        Mount("/", app=cast(Any, django_application)),
    ]
)
application = BodyLimit(
    cast(Any, routed),
    limit=settings.CMSF_MAX_BODY_BYTES,
    prefixed={"/hooks/": settings.CMSF_MAX_WEBHOOK_BODY_BYTES, "/api/": API_BODY_BYTES},
)
