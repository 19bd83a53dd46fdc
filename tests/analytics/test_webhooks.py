"""Alerts reach a real HTTP receiver on loopback: once per delivery id, signed, after an outage,
and after the process that recorded them died before sending."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from analytics import webhooks
from analytics.models import HealthAlert, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from analytics.services import evaluate_health
from tests.analytics.conftest import Store
from tests.analytics.test_alerts import leak_then_recovery
from tests.factories import T0

ROOT = Path(__file__).resolve().parents[2]
H = timedelta(hours=1)
M = timedelta(minutes=1)
DAY = timedelta(days=1)
LEAK_SEEN = T0 + 4 * H  # the last 24 hours hold the leaking charge
RECOVERY_SEEN = T0 + 2 * DAY + 4 * H
SECRET = "s3cret-for-the-receiver"


class Receiver:
    """An HTTP server on loopback that records every request and answers `status`."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.status = 200
        self.redirect_to = ""
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.requests.append(({k: v for k, v in self.headers.items()}, body))
                self.send_response(receiver.status)
                if receiver.redirect_to:
                    self.send_header("Location", receiver.redirect_to)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/fleet-alerts"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


def valid(headers: dict[str, str], body: bytes) -> bool:
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(headers["X-Fleet-Signature"], expected)


@pytest.mark.django_db
def test_each_alert_reaches_the_receiver_once_per_delivery_with_a_valid_signature(
    store: Store, receiver: Receiver
) -> None:
    WebhookEndpoint.objects.create(url=receiver.url, secret=SECRET)
    WebhookEndpoint.objects.create(url=receiver.url + "/off", secret="x", active=False)
    leak_then_recovery(store)
    evaluate_health(now=LEAK_SEEN)
    assert webhooks.deliver_due(now=LEAK_SEEN).delivered == 1
    evaluate_health(now=RECOVERY_SEEN)
    for minutes in (0, 5, 10):  # later runs send nothing again
        webhooks.deliver_due(now=RECOVERY_SEEN + minutes * M)

    assert len(receiver.requests) == 2
    ids = [headers["X-Fleet-Delivery"] for headers, _ in receiver.requests]
    assert sorted(ids) == sorted(str(d.pk) for d in WebhookDelivery.objects.all())
    for headers, body in receiver.requests:
        assert valid(headers, body)
        assert headers["Content-Type"] == "application/json"
    bodies = [json.loads(body) for _, body in receiver.requests]
    assert [
        (b["alert"]["kind"], b["alert"]["health"], b["alert"]["vehicleId"]) for b in bodies
    ] == [
        ("alert", "leak", "VH1"),
        ("recovery", "ok", "VH1"),
    ]
    assert [b["delivery"] for b in bodies] == ids
    assert [h["X-Fleet-Event"] for h, _ in receiver.requests] == ["alert", "recovery"]
    assert bodies[0]["alert"]["paired_efficiency"] == 0.7
    assert WebhookDelivery.objects.filter(delivered_at__isnull=True).count() == 0


@pytest.mark.django_db
def test_a_receiver_that_is_down_gets_everything_when_it_is_back(
    store: Store, receiver: Receiver
) -> None:
    WebhookEndpoint.objects.create(url=receiver.url, secret=SECRET)
    leak_then_recovery(store)
    receiver.status = 503
    evaluate_health(now=LEAK_SEEN)
    assert webhooks.deliver_due(now=LEAK_SEEN).failed == 1
    # Backoff: 1 minute, then 2; nothing is sent before a delivery is due again.
    assert webhooks.deliver_due(now=LEAK_SEEN + 30 * timedelta(seconds=1)).failed == 0
    assert webhooks.deliver_due(now=LEAK_SEEN + M).failed == 1
    receiver.status = 200
    assert webhooks.deliver_due(now=LEAK_SEEN + 2 * M).delivered == 0  # due at +3 minutes
    assert webhooks.deliver_due(now=LEAK_SEEN + 3 * M).delivered == 1
    assert webhooks.deliver_due(now=LEAK_SEEN + 10 * M).delivered == 0
    assert list(WebhookAttempt.objects.values_list("status", flat=True)) == [503, 503, 200]
    assert len({h["X-Fleet-Delivery"] for h, _ in receiver.requests}) == 1
    assert all(valid(h, b) for h, b in receiver.requests)

    # One that never comes back is given up on after WEBHOOK_RETRY_HOURS, its tries kept.
    receiver.status = 500
    evaluate_health(now=RECOVERY_SEEN)
    assert webhooks.deliver_due(now=RECOVERY_SEEN).failed == 1
    assert webhooks.deliver_due(now=RECOVERY_SEEN + 23 * H).failed == 1
    assert webhooks.deliver_due(now=RECOVERY_SEEN + 24 * H).given_up == 1
    delivery = WebhookDelivery.objects.get(alert__kind="recovery")
    assert delivery.given_up_at is not None and delivery.next_attempt_at is None
    assert delivery.tries.count() == 3
    assert webhooks.deliver_due(now=RECOVERY_SEEN + 30 * H).failed == 0


@pytest.mark.django_db
def test_a_redirect_is_not_followed_and_other_schemes_are_refused(
    store: Store, receiver: Receiver
) -> None:
    other = Receiver()
    try:
        receiver.status, receiver.redirect_to = 307, other.url
        WebhookEndpoint.objects.create(url=receiver.url, secret=SECRET)
        leak_then_recovery(store)
        evaluate_health(now=LEAK_SEEN)
        assert webhooks.deliver_due(now=LEAK_SEEN).failed == 1
        assert other.requests == []
        assert list(WebhookAttempt.objects.values_list("status", flat=True)) == [307]
    finally:
        other.close()
    with pytest.raises(ValidationError, match="Only http:// and https://"):
        WebhookEndpoint(url="ftp://127.0.0.1/alerts", secret="x").full_clean()


def _database_url() -> str:
    db = connection.settings_dict
    host = str(db.get("HOST") or "")
    query = f"?host={quote(host, safe='')}" if host.startswith("/") else ""
    netloc = "" if query else f"{host}:{db.get('PORT') or 5432}"
    auth = quote(str(db.get("USER") or ""), safe="")
    if db.get("PASSWORD"):
        auth += ":" + quote(str(db["PASSWORD"]), safe="")
    return f"postgres://{auth}@{netloc}/{quote(str(db['NAME']), safe='')}{query}"


@pytest.mark.django_db(transaction=True)
def test_an_alert_whose_process_was_killed_before_sending_is_delivered_by_the_next_run(
    store: Store, receiver: Receiver
) -> None:
    WebhookEndpoint.objects.create(url=receiver.url, secret=SECRET)
    leak_then_recovery(store)
    # Another process records the alert (and its outbox row) and is killed before it sends.
    script = (
        "import os, signal\n"
        "from datetime import datetime\n"
        "from analytics.services import evaluate_health\n"
        f"evaluate_health(now=datetime.fromisoformat({LEAK_SEEN.isoformat()!r}))\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")},
        "DATABASE_URL": _database_url(),
        "SECRET_KEY": "test-only-" + "x" * 40,
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == -9, result.stderr
    assert HealthAlert.objects.count() == 1
    assert receiver.requests == []
    assert webhooks.deliver_due(now=LEAK_SEEN + M).delivered == 1
    [(headers, body)] = receiver.requests
    assert valid(headers, body)
    assert json.loads(body)["alert"]["health"] == "leak"


@pytest.mark.django_db
def test_operators_configure_endpoints_and_see_each_attempt_in_the_admin(
    store: Store, receiver: Receiver
) -> None:
    from django.contrib.auth.models import User
    from django.test import Client

    client = Client()
    client.force_login(User.objects.create_superuser("op", "op@example.com", "pw"))
    add = "/admin/analytics/webhookendpoint/add/"
    refused = client.post(add, {"url": "ftp://127.0.0.1/x", "secret": "s", "active": "on"})
    assert "Only http:// and https:// addresses can receive alerts." in refused.content.decode()
    assert not WebhookEndpoint.objects.exists()
    client.post(add, {"url": receiver.url, "secret": SECRET, "active": "on"})
    assert WebhookEndpoint.objects.get().url == receiver.url

    leak_then_recovery(store)
    receiver.status = 502
    evaluate_health(now=LEAK_SEEN)
    webhooks.deliver_due(now=LEAK_SEEN)
    delivery = WebhookDelivery.objects.get()
    listing = client.get("/admin/analytics/webhookdelivery/").content.decode()
    assert "502" in listing
    page = client.get(f"/admin/analytics/webhookdelivery/{delivery.pk}/change/").content.decode()
    assert "Bad Gateway" in page
