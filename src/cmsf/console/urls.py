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
    rules,
    runs,
    salesforce_setup,
    security,
    setup,
    sms,
    storage,
    sync,
    transactional,
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
    *transactional.urlpatterns,
    *maintenance.urlpatterns,
    *salesforce_setup.urlpatterns,
    *security.urlpatterns,
    *billing.urlpatterns,
    *hooks.urlpatterns,
    *runs.urlpatterns,
    *setup.urlpatterns,
    *metrics.urlpatterns,
]
