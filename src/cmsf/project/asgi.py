"""The console as one ASGI app: static files by Starlette, everything else by Django."""

import os
from typing import Any, cast

from django.conf import settings
from django.core.asgi import get_asgi_application
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cmsf.project.settings")
django_application = get_asgi_application()

application = Starlette(
    routes=[
        Mount(settings.STATIC_URL.rstrip("/"), app=StaticFiles(directory=settings.STATIC_ROOT, check_dir=False)),
        Mount("/", app=cast(Any, django_application)),
    ]
)
