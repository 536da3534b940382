from cmsf.console.views import billing, campaigns, frame, maintenance, salesforce_setup, security, storage, sync

app_name = "console"

urlpatterns = [
    *frame.urlpatterns,
    *sync.urlpatterns,
    *storage.urlpatterns,
    *campaigns.urlpatterns,
    *maintenance.urlpatterns,
    *salesforce_setup.urlpatterns,
    *security.urlpatterns,
    *billing.urlpatterns,
]
