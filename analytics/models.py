"""Health alerts: what the periodic evaluation (manage.py evaluate_health) found changed."""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.functions import Now

from analytics import health
from fleet.registry.models import Vehicle

# Verdicts an operator acts on, and the one that ends them. insufficient_data and no_meter say
# nothing about the charger, so they neither raise nor end an alert.
ALERTING = (health.LEAK, health.DEGRADED)
RECOVERED = health.OK
ALERT_VERDICTS = (*ALERTING, RECOVERED)  # what an alert or recovery can change a vehicle to


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


def _http_url(value: str) -> None:
    if urlsplit(value).scheme not in ("http", "https"):
        raise ValidationError("Only http:// and https:// addresses can receive alerts.")


class WebhookEndpoint(models.Model):
    """Where alerts are delivered: an operator-configured URL and the secret that signs them."""

    url = models.URLField(
        max_length=500,
        validators=[_http_url],
        help_text="Alerts are POSTed here as JSON; redirects are not followed.",
    )
    secret = models.CharField(
        max_length=200,
        help_text="Signs each body: X-Fleet-Signature is sha256=<hex HMAC-SHA256 of the body>.",
    )
    active = models.BooleanField(default=True)
    description = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(db_default=Now(), editable=False)

    class Meta:
        db_table = "analytics_webhook_endpoint"

    def __str__(self) -> str:
        return self.description or self.url


class WebhookDelivery(models.Model):
    """The outbox: one row per alert and endpoint, written in the alert's own transaction, so an
    alert is never recorded without its deliveries. Its id is the X-Fleet-Delivery header that
    receivers dedupe by (delivery is at least once)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    alert = models.ForeignKey(HealthAlert, on_delete=models.CASCADE, related_name="deliveries")
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    created_at = models.DateTimeField()
    next_attempt_at = models.DateTimeField(null=True)  # None once delivered or given up
    attempts = models.IntegerField(default=0)
    delivered_at = models.DateTimeField(null=True)
    given_up_at = models.DateTimeField(null=True)

    class Meta:
        db_table = "analytics_webhook_delivery"
        verbose_name_plural = "webhook deliveries"
        indexes = [
            # The sender's "what is due" scan: only pending rows have a next attempt.
            models.Index(
                fields=["next_attempt_at"],
                name="webhook_delivery_due_idx",
                condition=models.Q(next_attempt_at__isnull=False),
            )
        ]

    def __str__(self) -> str:
        return f"{self.alert} to {self.endpoint}"


class WebhookAttempt(models.Model):
    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="tries")
    at = models.DateTimeField()
    status = models.IntegerField(null=True)  # the HTTP status; None when no answer came
    error = models.CharField(max_length=500, blank=True)
    milliseconds = models.IntegerField()

    class Meta:
        db_table = "analytics_webhook_attempt"
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.at.isoformat()}: {self.status or self.error}"


class VehicleBaseline(models.Model):
    """A vehicle's baseline efficiency for windows that start on `first_day`, as evaluate_health
    last computed it: the fleet view reads these, since 14 days of hourly roll-ups for every
    vehicle are too much to read per request. The per-vehicle endpoint computes its own.

    One row per vehicle and day (not one per vehicle), so a fleet view of an earlier window uses
    the baseline of that window's first day, not today's."""

    vehicle = models.ForeignKey(Vehicle, on_delete=models.CASCADE, related_name="baselines")
    first_day = models.DateTimeField()  # the baseline covers the days before this one (UTC)
    efficiency = models.DecimalField(max_digits=20, decimal_places=12, null=True)
    computed_at = models.DateTimeField()

    class Meta:
        db_table = "analytics_vehicle_baseline"
        # The fleet statement reads one day's rows by first_day; a vehicle's rows by vehicle.
        constraints = [
            models.UniqueConstraint(fields=["first_day", "vehicle"], name="baseline_one_per_day")
        ]

    def __str__(self) -> str:
        return f"{self.vehicle_id} from {self.first_day:%Y-%m-%d}: {self.efficiency}"
