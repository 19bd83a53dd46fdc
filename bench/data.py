"""Deterministic readings for the benchmark, as JSON bodies and as COPY text.

Pure Python with no Django import: the load generator (its own process) and the orchestrator
build the very same readings from the same arguments, so the COPY floor and the HTTP batch phase
store identical rows.

Values come from small precomputed string tables indexed by device and minute: cheap to make by
the million, exact as decimals (a JSON 0.123 is stored as NUMERIC 0.123, as COPY's '0.123' is),
and varied enough that efficiency differs per vehicle (DC / AC is 0.80-0.95 by vehicle).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

SOC = [f"{20 + x + 0.5:.1f}" for x in range(80)]
DC = [f"{0.1 + x / 1000:.3f}" for x in range(50)]  # kWh a minute: a 6-9 kW charge
TEMP = [f"{15 + x * 0.5:.1f}" for x in range(60)]
VOLT = [f"{225 + x * 0.5:.1f}" for x in range(20)]
# The meter's AC for the same interval at efficiency 0.80 + 0.01 * class (16 classes).
EFFICIENCY_CLASSES = 16
AC = [
    [f"{(0.1 + x / 1000) / (0.80 + 0.01 * c):.6f}" for x in range(50)]
    for c in range(EFFICIENCY_CLASSES)
]


def vehicle_id(n: int) -> str:
    return f"VH{n:05d}"


def meter_id(n: int) -> str:
    return f"MT{n:05d}"


class Clock:
    """ISO strings of whole minutes, cached (a batch reuses a handful of minutes)."""

    def __init__(self) -> None:
        self._json: dict[int, str] = {}
        self._copy: dict[int, str] = {}

    def json(self, epoch: int) -> str:
        text = self._json.get(epoch)
        if text is None:
            text = datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            self._json[epoch] = text
        return text

    def copy(self, epoch: int) -> str:
        text = self._copy.get(epoch)
        if text is None:
            text = datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S+00")
            self._copy[epoch] = text
        return text


# A reading as parallel fields: (kind, device number, epoch, k) with k the value index.
def _vehicle_json(d: int, ts: str, k: int) -> str:
    return (
        f'{{"vehicleId":"{vehicle_id(d)}","soc":{SOC[(d + k) % 80]},'
        f'"kwhDeliveredDc":{DC[(d * 7 + k) % 50]},"batteryTemp":{TEMP[(d * 3 + k) % 60]},'
        f'"timestamp":"{ts}"}}'
    )


def _ac(d: int, k: int) -> str:
    return AC[d % EFFICIENCY_CLASSES][(d * 7 + k) % 50]


def _meter_json(d: int, ts: str, k: int) -> str:
    return (
        f'{{"meterId":"{meter_id(d)}","kwhConsumedAc":{_ac(d, k)},'
        f'"voltage":{VOLT[(d + k) % 20]},"timestamp":"{ts}"}}'
    )


def _vehicle_copy(d: int, ts: str, k: int) -> str:
    return (
        f"{vehicle_id(d)}\t{ts}\t{SOC[(d + k) % 80]}\t{DC[(d * 7 + k) % 50]}\t"
        f"{TEMP[(d * 3 + k) % 60]}\n"
    )


def _meter_copy(d: int, ts: str, k: int) -> str:
    return f"{meter_id(d)}\t{ts}\t{_ac(d, k)}\t{VOLT[(d + k) % 20]}\n"


VEHICLE_COPY_COLUMNS = ("vehicle_id", "ts", "soc", "kwh_delivered_dc", "battery_temp")
METER_COPY_COLUMNS = ("meter_id", "ts", "kwh_consumed_ac", "voltage")


# --- single readings: request i posts one reading, unique (device, ts) across requests --------
def single_reading(i: int, devices: int, base_epoch: int, clock: Clock) -> str:
    """Request i: device slot i mod devices (even slots vehicles, odd meters), one minute
    further back each time the slots wrap, so no two requests share a (device, ts)."""
    slot, back = i % devices, i // devices
    ts = clock.json(base_epoch - 60 * back)
    if slot % 2 == 0:
        return _vehicle_json(slot // 2, ts, back)
    return _meter_json(slot // 2, ts, back)


# --- batches: request r carries half vehicle and half meter readings --------------------------
def _batch_keys(r: int, size: int, devices: int, base_epoch: int) -> Iterator[tuple[int, int, int]]:
    """(device, epoch, k) of request r's readings of one kind: consecutive devices at one
    minute, like a gateway relaying a minute of its devices; the next minute back once all
    devices are used."""
    for j in range(size):
        k = r * size + j
        yield k % devices, base_epoch - 60 * (k // devices), k // devices


def batch_halves(batch_size: int) -> tuple[int, int]:
    vehicles = batch_size // 2
    return vehicles, batch_size - vehicles


def batch_body(r: int, batch_size: int, devices: int, base_epoch: int, clock: Clock) -> bytes:
    nv, nm = batch_halves(batch_size)
    parts = [
        _vehicle_json(d, clock.json(e), k) for d, e, k in _batch_keys(r, nv, devices, base_epoch)
    ]
    parts += [
        _meter_json(d, clock.json(e), k) for d, e, k in _batch_keys(r, nm, devices, base_epoch)
    ]
    return ("[" + ",".join(parts) + "]").encode()


def batch_copy_text(
    requests: int, batch_size: int, devices: int, base_epoch: int, clock: Clock
) -> tuple[str, str]:
    """COPY text (vehicle rows, meter rows) of the same readings as batch_body(0..requests-1)."""
    nv, nm = batch_halves(batch_size)
    vehicles = [
        _vehicle_copy(d, clock.copy(e), k)
        for r in range(requests)
        for d, e, k in _batch_keys(r, nv, devices, base_epoch)
    ]
    meters = [
        _meter_copy(d, clock.copy(e), k)
        for r in range(requests)
        for d, e, k in _batch_keys(r, nm, devices, base_epoch)
    ]
    return "".join(vehicles), "".join(meters)


# --- the fleet dataset: every device, every minute --------------------------------------------
def fleet_copy_chunks(kind: str, devices: int, minutes: int, end_epoch: int) -> Iterator[str]:
    """COPY text one minute at a time, oldest first, every device in each minute: the order in
    which a live fleet fills the heap (so a vehicle's day is spread over ~1,440 heap pages, as in
    production, not packed together)."""
    clock = Clock()
    start = end_epoch - 60 * (minutes - 1)
    ids = [vehicle_id(n) if kind == "vehicle" else meter_id(n) for n in range(devices)]
    for m in range(minutes):
        ts = clock.copy(start + 60 * m)
        if kind == "vehicle":
            yield "".join(
                [
                    f"{ids[d]}\t{ts}\t{SOC[(d + m) % 80]}\t{DC[(d * 7 + m) % 50]}\t"
                    f"{TEMP[(d * 3 + m) % 60]}\n"
                    for d in range(devices)
                ]
            )
        else:
            yield "".join(
                [
                    f"{ids[d]}\t{ts}\t{AC[d % EFFICIENCY_CLASSES][(d * 7 + m) % 50]}\t"
                    f"{VOLT[(d + m) % 20]}\n"
                    for d in range(devices)
                ]
            )
