from django.urls import include, path

urlpatterns = [
    path("api/v1/", include("cmsf.api.urls")),
    path("", include("cmsf.console.urls")),
]
