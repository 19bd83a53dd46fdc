from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from analytics.admin import fleet_health
from fleet.plumbing.health import healthz, readyz
from fleet.plumbing.metrics import metrics_view
from fleet.project.views import landing

urlpatterns = [
    path("", landing, name="landing"),
    path("healthz", healthz),
    path("readyz", readyz),
    path("metrics", metrics_view, name="metrics"),
    path("v1/schema", SpectacularAPIView.as_view(), name="schema"),
    path("v1/docs", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("admin/fleet-health/", admin.site.admin_view(fleet_health), name="fleet-health"),
    path("admin/", admin.site.urls),
    path("v1/", include("telemetry.urls")),
    path("v1/", include("analytics.urls")),
]

handler400 = "fleet.plumbing.errors.bad_request"
handler403 = "fleet.plumbing.errors.permission_denied"
handler404 = "fleet.plumbing.errors.not_found"
handler500 = "fleet.plumbing.errors.server_error"
