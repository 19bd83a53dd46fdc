"""The report: the machine, the markdown table with its verdicts, and results.json."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any

import psutil

TARGETS = {
    "single_vs_floor": 0.60,
    "single_worker_cpu_ms": 0.4,
    "batch_vs_copy": 0.25,
    "performance_p99_ms": 20.0,
    "fleet_p99_ms": 250.0,
    "fleet_health_ratio": 1.5,  # the fleet statement with health, against the one before
    "worker_rss_mb": 200.0,
    "mqtt_single_vs_http_batch": 0.5,
    "mqtt_gateway_vs_http_batch": 0.8,
}
HEAD = ("measurement", "result", "server CPU", "ratio / check", "target")
Row = tuple[str, str, str, str, str]


def machine() -> dict[str, Any]:
    model = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cores": os.cpu_count(),
        "cpu": model,
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "os": platform.platform(),
    }


def write_results(results: dict[str, Any], out: Path) -> None:
    out.write_text(json.dumps(results, indent=2, default=str) + "\n")


# --- formatting -----------------------------------------------------------------------------
def _cpu(phase: dict[str, Any]) -> str:
    """Cores the server used in the phase: gunicorn workers + PostgreSQL (of 2)."""
    cores = phase.get("cpu_cores")
    if not cores:
        return ""
    pg = cores.get("postgres")
    return f"{cores['gunicorn']:.2f} + " + (f"{pg:.2f}" if pg is not None else "?")


def _verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def fmt(value: float | None, unit: str = "", digits: int = 0) -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}{unit}"


def _latency(phase: dict[str, Any], digits: int) -> str:
    return f"p50 {fmt(phase['p50_ms'], ' ms', digits)}, p99 {fmt(phase['p99_ms'], ' ms', digits)}"


# --- the rows -------------------------------------------------------------------------------
def _connections(phase: dict[str, Any]) -> str:
    driver = phase.get("driver", "python")
    kept = "connections kept" if phase.get("connections") == "keep" else "a new connection each"
    return f"{driver}, {kept}"


def _single_rows(r: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    for suffix in ("", "_close"):
        s, f = r.get(f"single{suffix}"), r.get(f"floor{suffix}")
        if s is None or f is None:
            continue
        ratio = s["ok_per_s"] / f["ok_per_s"] if f["ok_per_s"] else 0
        cpu_ms = s.get("worker_cpu_ms_per_request")
        target, cpu_target = TARGETS["single_vs_floor"], TARGETS["single_worker_cpu_ms"]
        if not suffix:
            r["ratios"]["single_vs_floor"] = ratio
        rows += [
            (
                f"single-reading ingest ({r['options']['clients']} clients, {s['seconds']:.0f} s; "
                f"{_connections(s)})",
                f"{fmt(s['ok_per_s'])} readings/s, {_latency(s, 1)}",
                _cpu(s),
                f"{ratio:.2f} x floor",
                f">= {target:.2f} x: " + _verdict(ratio >= target),
            ),
            (
                "  worker CPU per single-reading request",
                fmt(cpu_ms, " ms", 3),
                "",
                "",
                f"<= {cpu_target} ms: " + _verdict(cpu_ms is not None and cpu_ms <= cpu_target),
            ),
            (
                f"  framework floor (DRF POST, no DB; {_connections(f)})",
                f"{fmt(f['ok_per_s'])} requests/s, {_latency(f, 1)}",
                _cpu(f),
                "",
                "",
            ),
        ]
    return rows


def _batch_rows(r: dict[str, Any]) -> list[Row]:
    b, c = r["batch"], r["copy_floor"]
    ratio = b["readings_per_s"] / c["readings_per_s"] if c["readings_per_s"] else 0
    r["ratios"]["batch_vs_copy"] = ratio
    target = TARGETS["batch_vs_copy"]
    options = r["options"]
    return [
        (
            f"batch ingest ({options['batch_size']}/request, {options['batch_clients']} clients)",
            f"{fmt(b['readings_per_s'])} readings/s, {_latency(b, 0)}",
            _cpu(b),
            f"{ratio:.2f} x COPY",
            f">= {target:.2f} x: " + _verdict(ratio >= target),
        ),
        (
            "  COPY floor (same readings, 2 streams)",
            f"{fmt(c['readings_per_s'])} readings/s ({c['readings']:,} in {c['seconds']:.2f} s)",
            _cpu(c),
            "",
            "",
        ),
    ]


def _mqtt_cpu(run: dict[str, Any]) -> str:
    """Cores of the consumers + PostgreSQL (+ the broker, + the publisher)."""
    c = run["cpu_cores"]
    pg = f"{c['postgres']:.2f}" if "postgres" in c else "?"
    return f"{c['consumers']:.2f} + {pg} (broker {c['broker']:.2f}, publisher {c['publisher']:.2f})"


def _mqtt_rows(r: dict[str, Any]) -> list[Row]:
    m = r["mqtt"]
    if "skipped" in m:
        return [("MQTT ingest", f"skipped: {m['skipped']}", "", "", "")]
    http = r.get("batch", {}).get("readings_per_s")
    rows: list[Row] = []
    for key, label, target_key in (
        ("single", "single-reading messages over {devices:,} devices", "mqtt_single_vs_http_batch"),
        ("gateway", "gateway batches of {batch_size}", "mqtt_gateway_vs_http_batch"),
    ):
        run, target = m[key], TARGETS[target_key]
        ratio = run["readings_per_s"] / http if http else None
        if ratio is not None:
            r["ratios"][target_key] = ratio
        checks = "" if run["stored"] == run["readings"] else f"; STORED {run['stored']:,}"
        rows.append(
            (
                f"MQTT {label.format(**r['options'])} ({m['consumers']} consumers, "
                f"{run['messages']:,} messages)",
                f"{fmt(run['readings_per_s'])} readings/s; publish-to-commit at "
                f"{fmt(run['paced']['readings_per_s'])}/s: {_latency(run, 1)}{checks}",
                _mqtt_cpu(run),
                f"{ratio:.2f} x HTTP batch" if ratio is not None else "(no HTTP batch line)",
                f">= {target:.2f} x: " + _verdict(ratio is not None and ratio >= target),
            )
        )
    return rows


def _validation_row(v: dict[str, Any]) -> Row:
    return (
        f"validation per {v['readings']:,}-reading batch (parse_readings, in-process)",
        f"{v['ms_median']:.2f} ms median of {v['runs']} runs "
        f"({v['us_per_reading']:.2f} µs/reading)",
        "",
        "",
        "(information)",
    )


def _dataset_row(d: dict[str, Any]) -> Row:
    return (
        "fleet dataset",
        f"{d['history_rows']:,} rows ({d['vehicles']:,} vehicles + "
        f"{d['meters']:,} meters x {d['hours']} h); COPY {d['copy_s']:.0f} s, "
        f"roll-ups {d['rollup_s']:.0f} s, "
        f"VACUUM ANALYZE {d['vacuum_analyze_s']:.0f} s",
        "",
        f"{d['history_bytes'] / 2**30:.1f} GiB",
        "roll-ups = raw: " + ("yes" if d["rollups_equal_raw"] else "NO"),
    )


def _analytics_rows(a: dict[str, Any]) -> list[Row]:
    p, fl, q = a["performance"], a["fleet"], a["seed_query"]
    perf_target, fleet_target = TARGETS["performance_p99_ms"], TARGETS["fleet_p99_ms"]
    return [
        _dataset_row(a["dataset"]),
        (
            f"per-vehicle performance (?hours=24, {p['requests']} random vehicles)",
            _latency(p, 1),
            _cpu(p),
            "= raw sums: " + ("yes" if a["check"]["endpoint_equals_raw_sums"] else "NO"),
            f"p99 <= {perf_target:.0f} ms: " + _verdict((p["p99_ms"] or 1e9) <= perf_target),
        ),
        (
            f"fleet endpoint (?hours=24, {fl['requests']} requests)",
            _latency(fl, 1),
            _cpu(fl),
            f"{fl['count']} vehicles",
            f"p99 <= {fleet_target:.0f} ms: " + _verdict((fl["p99_ms"] or 1e9) <= fleet_target),
        ),
        *_fleet_statement_rows(a.get("fleet_statement")),
        (
            f"seed's JOIN query ({q['vehicle']}, 24 h)",
            f"{q['ms_median']:,.0f} ms; DC {q['seed_total_dc']:,.1f} vs "
            f"{q['correct_total_dc']:,.1f}, AC {q['seed_total_ac']:,.1f} vs "
            f"{q['correct_total_ac']:,.1f}",
            "",
            f"x{q['dc_ratio']:,.0f} DC, x{q['ac_ratio']:,.0f} AC",
            "(wrong by design)",
        ),
    ]


def _fleet_statement_rows(s: dict[str, Any] | None) -> list[Row]:
    """The fleet statement with coverage and verdicts against the one before them, in-process,
    medians of interleaved rounds; then with a tenth of the vehicles given a gap."""
    if not s:
        return []
    target = TARGETS["fleet_health_ratio"]
    healthy, gaps = s["healthy"], s["with_gaps"]
    return [
        (
            f"fleet statement with health vs before ({s['rounds']} interleaved rounds, in-process)",
            f"{healthy['current_ms_median']:,.1f} ms vs {healthy['reference_ms_median']:,.1f} ms",
            "",
            f"{healthy['ratio']:.2f} x",
            f"<= {target} x: " + _verdict(healthy["ratio"] <= target),
        ),
        (
            f"the same, {s['gappy_vehicles']:,} vehicles with a one-hour telematics gap",
            f"{gaps['current_ms_median']:,.1f} ms vs {gaps['reference_ms_median']:,.1f} ms",
            "",
            f"{gaps['ratio']:.2f} x",
            "(information)",
        ),
    ]


def _rss_row(rss: dict[str, Any]) -> Row:
    peak = max(rss["worker_peak_per_phase_mb"].values(), default=0)
    target = TARGETS["worker_rss_mb"]
    return (
        f"peak worker RSS ({rss['workers_seen']} worker processes)",
        f"{peak:.0f} MB",
        "",
        "",
        f"<= {target:.0f} MB: " + _verdict(peak <= target),
    )


def _markdown(rows: list[Row]) -> str:
    widths = [max(len(row[i]) for row in [HEAD, *rows]) for i in range(len(HEAD))]
    lines = [
        "| " + " | ".join(h.ljust(w) for h, w in zip(HEAD, widths, strict=True)) + " |",
        "|" + "|".join("-" * (w + 2) for w in widths) + "|",
    ]
    for row in rows:
        lines.append("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |")
    return "\n".join(lines)


def table(results: dict[str, Any]) -> str:
    """The markdown table of the phases that ran; fills results["ratios"] on the way."""
    r = results
    rows: list[Row] = []
    if ("single" in r and "floor" in r) or ("single_close" in r and "floor_close" in r):
        rows += _single_rows(r)
    if "batch" in r and "copy_floor" in r:
        rows += _batch_rows(r)
    if "mqtt" in r:
        rows += _mqtt_rows(r)
    if "validation" in r:
        rows.append(_validation_row(r["validation"]))
    if "analytics" in r:
        rows += _analytics_rows(r["analytics"])
    rows.append(_rss_row(r["rss"]))
    return _markdown(rows)
