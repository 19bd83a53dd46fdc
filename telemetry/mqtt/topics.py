"""The topics: what devices publish on, what the consumer subscribes to, where refusals go.

fleet/v1/vehicles/{vehicleId}/telemetry   one vehicle reading (a JSON object)
fleet/v1/meters/{meterId}/telemetry       one meter reading
fleet/v1/gateways/{gatewayId}/telemetry   a batch: a JSON array of readings of any devices
fleet/v1/rejected/<original topic>        what the consumer refused, with the error
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

PREFIX = "fleet/v1"
KINDS = ("vehicles", "meters", "gateways")
REJECTED = f"{PREFIX}/rejected"

Kind = Literal["vehicles", "meters", "gateways"]
_KIND: dict[str, Kind] = {"vehicles": "vehicles", "meters": "meters", "gateways": "gateways"}


@dataclass(frozen=True, slots=True)
class Topic:
    kind: Kind
    device_id: str  # as it appears in the topic; the reading rules check it


def subscriptions(share_group: str) -> list[str]:
    """One shared subscription per kind: the group's consumers split the messages between
    them, each message going to one of them."""
    return [f"$share/{share_group}/{PREFIX}/{kind}/+/telemetry" for kind in KINDS]


def parse(topic: str) -> Topic | None:
    """The kind and device of a telemetry topic; None for any other topic."""
    parts = topic.split("/")
    if len(parts) != 5 or parts[0] != "fleet" or parts[1] != "v1" or parts[4] != "telemetry":
        return None
    kind = _KIND.get(parts[2])
    return Topic(kind, parts[3]) if kind is not None else None


def rejected(topic: str) -> str:
    """Where a refused message goes. No subscription of the consumer matches it (it has more
    levels than a telemetry topic), so a refusal never comes back to be refused again."""
    return f"{REJECTED}/{topic}"
