from django.contrib.auth import views as auth_views
from django.urls import path

from cmsf.console import views

app_name = "console"

urlpatterns = [
    path("", views.home, name="home"),
    path("sync/enabled", views.sync_enabled, name="sync_enabled"),
    path("sync/now", views.sync_now, name="sync_now"),
    path("sync/frequency", views.sync_frequency, name="sync_frequency"),
    path("sync/progress", views.sync_progress, name="sync_progress"),
    path(
        "login/",
        auth_views.LoginView.as_view(template_name="console/login.html", redirect_authenticated_user=True),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("healthz", views.healthz, name="healthz"),
]
