from cmsf.console.views import (
    billing,
    campaigns,
    frame,
    hooks,
    maintenance,
    options,
    salesforce_setup,
    security,
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
    *maintenance.urlpatterns,
    *salesforce_setup.urlpatterns,
    *security.urlpatterns,
    *billing.urlpatterns,
    *hooks.urlpatterns,
]
