from django.urls import path

from analytics.views import AlertViewSet, FleetViewSet, PerformanceViewSet

urlpatterns = [
    path(
        "analytics/performance/<str:pk>",
        PerformanceViewSet.as_view({"get": "retrieve"}),
        name="performance",
    ),
    path(
        "analytics/performance/<str:pk>/series",
        PerformanceViewSet.as_view({"get": "series"}),
        name="performance-series",
    ),
    path("analytics/fleet", FleetViewSet.as_view({"get": "efficiency"}), name="fleet"),
    path("alerts", AlertViewSet.as_view({"get": "recent"}), name="alerts"),
]
