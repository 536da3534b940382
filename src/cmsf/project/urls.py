from django.urls import include, path

urlpatterns = [
    path("", include("cmsf.console.urls")),
]
