from django.contrib import admin
from django.urls import include, path

from fleet.admin import fleet_health
from fleet.health import healthz, readyz

urlpatterns = [
    path("healthz", healthz),
    path("readyz", readyz),
    path("admin/fleet-health/", admin.site.admin_view(fleet_health), name="fleet-health"),
    path("admin/", admin.site.urls),
    path("v1/", include("telemetry.urls")),
    path("v1/", include("analytics.urls")),
]
