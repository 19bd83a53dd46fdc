"""Delivering alerts to the webhook endpoints operators configured: at least once, signed.

The outbox (WebhookDelivery) is written in the alert's own transaction (enqueue), so a process
that dies after recording an alert leaves its deliveries pending, and the next run sends them.
Each delivery is sent inside a transaction that holds its row (FOR UPDATE SKIP LOCKED): two
senders never send one delivery at once, and a sender that dies mid-request leaves the row
pending. Failures are retried with exponential backoff for WEBHOOK_RETRY_HOURS, each attempt
kept. Receivers dedupe by the X-Fleet-Delivery id and check X-Fleet-Signature.

Only the configured URL is contacted: http or https only, redirects are not followed, and the
timeout is short (WEBHOOK_TIMEOUT_SECONDS).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from analytics.models import HealthAlert, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from analytics.selectors import alert_item

DELIVERY_HEADER = "X-Fleet-Delivery"
SIGNATURE_HEADER = "X-Fleet-Signature"
EVENT_HEADER = "X-Fleet-Event"
FIRST_RETRY = timedelta(minutes=1)
LONGEST_RETRY = timedelta(hours=1)


def enqueue(alert: HealthAlert, now: datetime) -> int:
    """One pending delivery per active endpoint; call inside the alert's transaction."""
    endpoints = list(WebhookEndpoint.objects.filter(active=True).order_by("pk"))
    WebhookDelivery.objects.bulk_create(
        WebhookDelivery(alert=alert, endpoint=endpoint, created_at=now, next_attempt_at=now)
        for endpoint in endpoints
    )
    return len(endpoints)


def body_of(delivery: WebhookDelivery) -> bytes:
    return json.dumps(
        {"delivery": str(delivery.pk), "alert": alert_item(delivery.alert)},
        cls=DjangoJSONEncoder,
        separators=(",", ":"),
    ).encode()


def signature(secret: str, body: bytes) -> str:
    """sha256=<hex HMAC-SHA256 of the body under the endpoint's secret>."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a 3xx is the answer, not a new address to contact


_OPENER = urllib.request.build_opener(_NoRedirects)


def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int | None, str]:
    """(HTTP status or None, error text) of one POST."""
    if urlsplit(url).scheme not in ("http", "https"):
        return None, "not an http or https URL"
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with _OPENER.open(request, timeout=settings.WEBHOOK_TIMEOUT_SECONDS) as response:
            return int(response.status), ""
    except urllib.error.HTTPError as error:  # 3xx, 4xx, 5xx
        return int(error.code), str(error.reason)[:500]
    except (urllib.error.URLError, OSError, ValueError) as error:
        return None, str(getattr(error, "reason", error))[:500]


@dataclass
class DeliveryReport:
    delivered: int = 0
    failed: int = 0
    given_up: int = 0


def _attempt(delivery: WebhookDelivery, now: datetime) -> str:
    body = body_of(delivery)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "fleet-telemetry-webhooks",
        DELIVERY_HEADER: str(delivery.pk),
        EVENT_HEADER: delivery.alert.kind,
        SIGNATURE_HEADER: signature(delivery.endpoint.secret, body),
    }
    started = time.monotonic()
    status, error = _post(delivery.endpoint.url, body, headers)
    WebhookAttempt.objects.create(
        delivery=delivery,
        at=now,
        status=status,
        error=error,
        milliseconds=int((time.monotonic() - started) * 1000),
    )
    delivery.attempts += 1
    if status is not None and 200 <= status < 300:
        delivery.delivered_at, delivery.next_attempt_at = now, None
        outcome = "delivered"
    elif now - delivery.created_at >= timedelta(hours=settings.WEBHOOK_RETRY_HOURS):
        delivery.given_up_at, delivery.next_attempt_at = now, None
        outcome = "given up"
    else:
        delay = min(FIRST_RETRY * 2 ** (delivery.attempts - 1), LONGEST_RETRY)
        delivery.next_attempt_at = now + delay
        outcome = "failed"
    delivery.save(update_fields=["attempts", "delivered_at", "given_up_at", "next_attempt_at"])
    return outcome


def deliver_due(
    *, now: datetime | None = None, say: Callable[[str], None] = lambda line: None
) -> DeliveryReport:
    """Send every delivery due by `now` once: each in its own transaction, holding its row."""
    now = now or timezone.now()
    report = DeliveryReport()
    while True:
        with transaction.atomic():
            delivery = (
                WebhookDelivery.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("alert", "alert__acknowledged_by", "endpoint")
                .filter(next_attempt_at__lte=now)
                .order_by("next_attempt_at", "created_at")
                .first()
            )
            if delivery is None:
                return report
            outcome = _attempt(delivery, now)
        if outcome == "delivered":
            report.delivered += 1
        elif outcome == "given up":
            report.given_up += 1
            say(f"gave up on delivery {delivery.pk} to {delivery.endpoint.url}")
        else:
            report.failed += 1
