from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand

from telemetry.mqtt import config
from telemetry.mqtt.consumer import Consumer


class Command(BaseCommand):
    help = (
        "Consume telemetry from the MQTT broker (MQTT_URL): readings are stored in batches and "
        "each message is acknowledged once its readings are committed. Runs until SIGTERM, "
        "which finishes the open batch first."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        code = Consumer(config.load()).run()
        if code:
            sys.exit(code)
