from django.urls import path

from telemetry.views import MeterStatusViewSet, TelemetryViewSet, VehicleStatusViewSet

urlpatterns = [
    path("telemetry", TelemetryViewSet.as_view({"post": "create"}), name="telemetry"),
    path(
        "vehicles/<str:pk>/status",
        VehicleStatusViewSet.as_view({"get": "retrieve"}),
        name="vehicle-status",
    ),
    path(
        "meters/<str:pk>/status",
        MeterStatusViewSet.as_view({"get": "retrieve"}),
        name="meter-status",
    ),
]
