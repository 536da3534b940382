"""Queue tasks of billing: thin wrappers that call one service."""

from django.utils import timezone
from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from cmsf.billing import services


@db_periodic_task(crontab(minute="15", hour="0"))
def billing_day() -> list[str]:
    """Every day at 00:15 UTC: today's count of active subscribers, then the invoices of finished months."""
    return services.billing_day(timezone.now())
