from cmsf.console.views import frame, sync

app_name = "console"

urlpatterns = [
    *frame.urlpatterns,
    *sync.urlpatterns,
]
