"""The load generator: its own process, stdlib asyncio, `clients` requests in flight.

`python -m bench.loadgen SPEC.json` runs one phase and prints its result as JSON. Bodies are
built before the clock starts, so the generator spends its CPU on sockets, not on JSON. Only
127.0.0.1 is ever a target, and every loop stops at a deadline or a request count, whichever
comes first.

Gunicorn's sync workers close the connection after each response, so every request is a new
connection (as every device's request is, to a sync worker).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import resource
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from bench import data

HOST = "127.0.0.1"  # the only target, whatever the spec says


def _dechunk(body: bytes) -> bytes:
    out: list[bytes] = []
    at = 0
    while True:
        eol = body.index(b"\r\n", at)
        size = int(body[at:eol].split(b";")[0], 16)
        if size == 0:
            return b"".join(out)
        out.append(body[eol + 2 : eol + 2 + size])
        at = eol + 2 + size + 2


async def exchange(port: int, request: bytes) -> tuple[int, bytes]:
    """One request on a new connection: send it, half-close, read the response to EOF.

    Gunicorn's sync worker answers `Connection: close` and then waits (up to 2 s) for the
    client's FIN before it takes the next request. Half-closing right after the request means
    that FIN is already there, so a worker never idles waiting for this process to be
    scheduled: the measurement is the server's, not the load generator's.
    """
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        writer.write(request)
        writer.write_eof()
        response = await reader.read()
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    head, sep, body = response.partition(b"\r\n\r\n")
    if not sep or not head.startswith(b"HTTP/1."):
        raise ValueError(f"not an HTTP response: {response[:80]!r}")
    lower = head.lower()
    at = lower.find(b"\r\ncontent-length:")
    if at >= 0:
        eol = lower.find(b"\r\n", at + 2)
        length = int(lower[at + 17 : eol if eol >= 0 else None])
        if len(body) != length:
            raise ValueError(f"body of {len(body)} bytes, Content-Length {length}")
    elif b"\r\ntransfer-encoding: chunked" in lower:
        body = _dechunk(body)
    return int(head[9:12]), body


def build_request(method: str, path: str, port: int, key: str | None, body: bytes = b"") -> bytes:
    lines = [
        f"{method} {path} HTTP/1.1",
        f"Host: {HOST}:{port}",
        "User-Agent: fleet-bench",
        "Connection: close",
    ]
    if key:
        lines.append(f"Authorization: Api-Key {key}")
    if method == "POST":
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


@dataclass
class Record:
    start: float
    end: float
    status: int
    body: bytes


@dataclass
class Run:
    records: list[Record] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def mark(word: str) -> None:
    """Tell the orchestrator (reading our stdout) that measuring starts or stops, so it can
    sample the server's CPU over the same interval."""
    print(word, flush=True)


async def _drive(
    requests: list[bytes],
    clients: int,
    port: int,
    deadline: float,
    keep_body: bool,
    measure_from: float | None = None,
) -> Run:
    """Send requests in order from `clients` connections until all are sent or the deadline."""
    run = Run()
    next_index = 0

    async def marks() -> None:
        assert measure_from is not None
        await asyncio.sleep(max(0.0, measure_from - time.perf_counter()))
        mark("measuring")
        await asyncio.sleep(max(0.0, deadline - time.perf_counter()))
        mark("done")

    async def client() -> None:
        nonlocal next_index
        while next_index < len(requests) and time.perf_counter() < deadline:
            request = requests[next_index]
            next_index += 1
            start = time.perf_counter()
            try:
                status, body = await exchange(port, request)
            except (OSError, ValueError) as exc:
                run.failures.append(f"{type(exc).__name__}: {exc}")
                continue
            keep = keep_body or status != 200
            run.records.append(Record(start, time.perf_counter(), status, body if keep else b""))

    timer = [marks()] if measure_from is not None else []
    await asyncio.gather(*(client() for _ in range(clients)), *timer)
    return run


def _percentile(sorted_values: list[float], q: float) -> float | None:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return None
    rank = max(1, -(-len(sorted_values) * q // 100))
    return sorted_values[int(rank) - 1]


def _latency_ms(records: list[Record]) -> dict[str, float | None]:
    values = sorted((r.end - r.start) * 1000 for r in records)
    return {
        "p50_ms": _percentile(values, 50),
        "p90_ms": _percentile(values, 90),
        "p99_ms": _percentile(values, 99),
        "max_ms": values[-1] if values else None,
    }


def _errors(run: Run, records: list[Record]) -> dict[str, Any]:
    bad = [r for r in records if r.status != 200]
    by_status: dict[str, int] = {}
    for r in bad:
        by_status[str(r.status)] = by_status.get(str(r.status), 0) + 1
    return {
        "errors": len(bad) + len(run.failures),
        "error_statuses": by_status,
        "error_samples": [r.body[:300].decode(errors="replace") for r in bad[:3]]
        + run.failures[:3],
    }


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_timed(spec: dict[str, Any], requests: list[bytes]) -> dict[str, Any]:
    """Requests for warmup + duration seconds; throughput and latency over the measured part."""
    clients, warmup, duration = spec["clients"], spec["warmup"], spec["duration"]
    began = time.perf_counter()
    measure_from = began + warmup
    deadline = measure_from + duration
    cpu0 = _cpu_seconds()
    run = asyncio.run(
        _drive(requests, clients, spec["port"], deadline, False, measure_from=measure_from)
    )
    cpu = _cpu_seconds() - cpu0
    measured = [r for r in run.records if r.start >= measure_from and r.end <= deadline]
    completed = [r for r in run.records if measure_from <= r.end <= deadline]
    exhausted = len(run.records) + len(run.failures) >= len(requests)
    return {
        "requests": len(completed),
        "seconds": duration,
        "requests_per_s": len(completed) / duration,
        "ok_per_s": sum(r.status == 200 for r in completed) / duration,
        **_latency_ms(measured),
        **_errors(run, completed),
        "sent_total": len(run.records),
        "exhausted_request_list": exhausted,
        "loadgen_cpu_s": cpu,
        "loadgen_cpu_share": cpu / (time.perf_counter() - began),
    }


def run_all(spec: dict[str, Any], requests: list[bytes], warmup_count: int) -> dict[str, Any]:
    """Every request once (bounded by spec["max_seconds"]); the first warmup_count not counted."""
    began = time.perf_counter()
    deadline = began + spec["max_seconds"]
    cpu0 = _cpu_seconds()
    keep_body = bool(spec.get("bodies") or spec.get("keep_sample_body"))
    mark("measuring")
    run = asyncio.run(_drive(requests, spec["clients"], spec["port"], deadline, keep_body))
    mark("done")
    cpu = _cpu_seconds() - cpu0
    records = sorted(run.records, key=lambda r: r.start)[warmup_count:]
    seconds = (max(r.end for r in records) - min(r.start for r in records)) if records else 0.0
    result: dict[str, Any] = {
        "requests": len(records),
        "seconds": seconds,
        "requests_per_s": len(records) / seconds if seconds else 0.0,
        **_latency_ms(records),
        **_errors(run, records),
        "complete": len(run.records) + len(run.failures) == len(requests),
        "loadgen_cpu_s": cpu,
        "loadgen_cpu_share": cpu / (time.perf_counter() - began),
    }
    if spec.get("bodies"):
        accepted = duplicates = 0
        for r in records:
            if r.status == 200:
                answer = json.loads(r.body)
                accepted += answer["accepted"]
                duplicates += answer["duplicates"]
        result.update(
            accepted=accepted,
            duplicates=duplicates,
            readings_per_s=accepted / seconds if seconds else 0.0,
        )
    if spec.get("keep_sample_body") and records:
        result["sample_body"] = json.loads(records[-1].body)
    return result


def main(spec: dict[str, Any]) -> dict[str, Any]:
    port, mode = spec["port"], spec["mode"]
    keys: list[str] = spec.get("keys") or []

    def key(i: int) -> str | None:
        """Request i goes through key i of the pool, round robin (no key for the floor)."""
        return keys[i % len(keys)] if keys else None

    if mode == "single":
        # Request i posts reading i: unique (device, ts) over spec["devices"] devices.
        clock = data.Clock()
        requests = [
            build_request(
                "POST",
                spec["path"],
                port,
                key(i),
                data.single_reading(i, spec["devices"], spec["base_epoch"], clock).encode(),
            )
            for i in range(spec["max_requests"])
        ]
        return run_timed(spec, requests)
    if mode == "batch":
        clock = data.Clock()
        requests = [
            build_request(
                "POST",
                spec["path"],
                port,
                key(r),
                data.batch_body(r, spec["batch_size"], spec["devices"], spec["base_epoch"], clock),
            )
            for r in range(spec["requests"])
        ]
        return run_all({**spec, "bodies": True}, requests, warmup_count=0)
    if mode == "get":
        requests = [build_request("GET", p, port, key(i)) for i, p in enumerate(spec["paths"])]
        return run_all(spec, requests, warmup_count=spec.get("warmup_requests", 0))
    raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        result = main(json.load(f))
    print(json.dumps(result), flush=True)
