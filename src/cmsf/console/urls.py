from cmsf.console import metrics
from cmsf.console.views import (
    billing,
    campaigns,
    frame,
    hooks,
    imports,
    maintenance,
    mappings,
    options,
    preferences,
    rules,
    runs,
    salesforce_setup,
    security,
    setup,
    sms,
    storage,
    sync,
)

app_name = "console"

urlpatterns = [
    *frame.urlpatterns,
    *sync.urlpatterns,
    *storage.urlpatterns,
    *options.urlpatterns,
    *campaigns.urlpatterns,
    *imports.urlpatterns,
    *mappings.urlpatterns,
    *rules.urlpatterns,
    *sms.urlpatterns,
    *maintenance.urlpatterns,
    *salesforce_setup.urlpatterns,
    *security.urlpatterns,
    *preferences.urlpatterns,
    *billing.urlpatterns,
    *hooks.urlpatterns,
    *runs.urlpatterns,
    *setup.urlpatterns,
    *metrics.urlpatterns,
]
