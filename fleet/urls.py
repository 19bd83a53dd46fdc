from django.contrib import admin
from django.urls import include, path

from fleet.health import healthz, readyz

urlpatterns = [
    path("healthz", healthz),
    path("readyz", readyz),
    path("admin/", admin.site.urls),
    path("v1/", include("telemetry.urls")),
    path("v1/", include("analytics.urls")),
]
