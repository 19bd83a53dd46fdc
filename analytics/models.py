"""Health alerts: what the periodic evaluation (manage.py evaluate_health) found changed."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from fleet.registry.models import Vehicle

# Verdicts an operator acts on, and the one that ends them. insufficient_data and no_meter say
# nothing about the charger, so they neither raise nor end an alert.
ALERTING = ("leak", "degraded")
RECOVERED = "ok"


class HealthState(models.Model):
    """Each vehicle's last decisive verdict (ok, leak or degraded): what a new verdict is
    compared with, so an alert is recorded once per change and never while it stays."""

    vehicle = models.OneToOneField(
        Vehicle, primary_key=True, on_delete=models.CASCADE, related_name="health_state"
    )
    verdict = models.CharField(max_length=24)
    evaluated_at = models.DateTimeField()

    class Meta:
        db_table = "analytics_health_state"

    def __str__(self) -> str:
        return f"{self.vehicle_id}: {self.verdict}"


class HealthAlert(models.Model):
    class Kind(models.TextChoices):
        ALERT = "alert", "alert"
        RECOVERY = "recovery", "recovery"

    vehicle = models.ForeignKey(Vehicle, on_delete=models.CASCADE, related_name="health_alerts")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    verdict = models.CharField(max_length=24)  # leak or degraded; ok for a recovery
    previous = models.CharField(max_length=24, blank=True)  # "" for a vehicle's first verdict
    paired_efficiency = models.DecimalField(max_digits=12, decimal_places=6, null=True)
    baseline_efficiency = models.DecimalField(max_digits=12, decimal_places=6, null=True)
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    created_at = models.DateTimeField()
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        db_table = "analytics_health_alert"
        ordering = ["-created_at", "-id"]
        indexes = [
            # GET /v1/alerts?vehicle=...: newest first for one vehicle.
            models.Index(fields=["vehicle", "-created_at"], name="health_alert_vehicle_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.vehicle_id} {self.kind} {self.verdict} at {self.created_at.isoformat()}"
