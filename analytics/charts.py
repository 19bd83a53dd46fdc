"""Server-side SVG charts for the admin: no JavaScript, no CDN, works offline."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe


@dataclass(frozen=True)
class Bar:
    label: str
    value: float | None
    flagged: bool


def efficiency_bars(bars: Sequence[Bar], threshold: float, width: int = 720) -> SafeString:
    """Horizontal bars of efficiency (0-1.2) per vehicle, flagged ones red, threshold dashed."""
    row, left, right = 18, 130, 50
    height = max(1, len(bars)) * row + 50  # room for the axis values and its label
    scale = (width - left - right) / 1.2

    def x(value: float) -> float:
        return left + min(max(value, 0.0), 1.2) * scale

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="Efficiency per vehicle" class="fleet-chart">',
        "<style>text{font:11px sans-serif;fill:#333}.ok{fill:#417690}.bad{fill:#ba2121}"
        ".none{fill:#bbb}</style>",
    ]
    plot_bottom = height - 30
    for tick in (0.0, 0.2, 0.4, 0.6, 0.8, 1.0, 1.2):
        # Gridlines and their values, so a bar can be read without hovering it.
        gx = x(tick)
        parts.append(
            f'<line x1="{gx:.1f}" y1="4" x2="{gx:.1f}" y2="{plot_bottom}" stroke="#e5e5e5"/>'
        )
        parts.append(
            f'<text x="{gx:.1f}" y="{plot_bottom + 12}" text-anchor="middle">{tick:g}</text>'
        )
    parts.append(
        f'<text x="{left + (width - left - right) / 2:.1f}" y="{height - 2}" text-anchor="middle">'
        "efficiency (DC kWh / AC kWh)</text>"
    )
    for i, bar in enumerate(bars):
        y = 10 + i * row
        label = escape(bar.label)
        parts.append(f'<text x="{left - 6}" y="{y + 12}" text-anchor="end">{label}</text>')
        if bar.value is None:
            parts.append(f'<text x="{left + 4}" y="{y + 12}" class="none">no AC</text>')
            continue
        css = "bad" if bar.flagged else "ok"
        parts.append(
            f'<rect x="{left}" y="{y + 2}" width="{x(bar.value) - left:.1f}" height="{row - 5}" '
            f'class="{css}"><title>{label}: {bar.value:.4f}</title></rect>'
        )
        parts.append(f'<text x="{x(bar.value) + 4:.1f}" y="{y + 12}">{bar.value:.4f}</text>')
    tx = x(threshold)
    parts.append(
        f'<line x1="{tx:.1f}" y1="4" x2="{tx:.1f}" y2="{plot_bottom}" stroke="#ba2121" '
        'stroke-dasharray="4 3"/>'
    )
    parts.append(f'<text x="{tx + 4:.1f}" y="12" class="bad">threshold {threshold:g}</text>')
    parts.append("</svg>")
    return mark_safe("".join(parts))


def _zone(hours: Sequence[tuple[datetime, float, float]]) -> str:
    """The hours' time zone, for the axis label (the roll-ups' hours are UTC)."""
    return (hours[0][0].tzname() or "UTC") if hours else "UTC"


def hourly_energy(
    hours: Sequence[tuple[datetime, float, float]], width: int = 720, height: int = 200
) -> SafeString:
    """Paired columns of DC (blue) and AC (grey) kWh per hour."""
    left, bottom, top = 46, 34, 24
    n = max(1, len(hours))
    peak = max([max(dc, ac) for _, dc, ac in hours] + [0.001])
    slot = (width - left - 10) / n
    plot = height - bottom - top

    def h(value: float) -> float:
        return value / peak * plot

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        'role="img" aria-label="DC and AC energy per hour" class="hourly-chart">',
        "<style>text{font:10px sans-serif;fill:#333}.dc{fill:#417690}.ac{fill:#bbb}</style>",
        f'<line x1="{left}" y1="{height - bottom}" x2="{width - 10}" y2="{height - bottom}" '
        'stroke="#999"/>',
        '<text x="4" y="10">kWh per hour</text>',
    ]
    for share in (0.25, 0.5, 0.75, 1.0):
        # Gridlines at quarters of the peak, labelled in kWh.
        gy = height - bottom - share * plot
        parts.append(
            f'<line x1="{left}" y1="{gy:.1f}" x2="{width - 10}" y2="{gy:.1f}" stroke="#e5e5e5"/>'
        )
        parts.append(
            f'<text x="{left - 4}" y="{gy + 3:.1f}" text-anchor="end">{peak * share:.2f}</text>'
        )
    for i, (hour, dc, ac) in enumerate(hours):
        x0 = left + i * slot
        w = max(1.0, slot / 2 - 1)
        base = height - bottom
        parts.append(
            f'<rect x="{x0:.1f}" y="{base - h(ac):.1f}" width="{w:.1f}" height="{h(ac):.1f}" '
            f'class="ac"><title>{hour:%H:00} AC {ac:.3f} kWh</title></rect>'
        )
        parts.append(
            f'<rect x="{x0 + w:.1f}" y="{base - h(dc):.1f}" width="{w:.1f}" height="{h(dc):.1f}" '
            f'class="dc"><title>{hour:%H:00} DC {dc:.3f} kWh</title></rect>'
        )
        if i % max(1, n // 8) == 0:
            parts.append(f'<text x="{x0:.1f}" y="{height - 20}">{hour:%d %H:00}</text>')
    parts.append(
        f'<text x="{left + (width - left - 10) / 2:.1f}" y="{height - 4}" '
        f'text-anchor="middle">hour starting ({_zone(hours)})</text>'
    )
    parts.append("</svg>")
    return mark_safe("".join(parts))


def hourly_efficiency(
    hours: Sequence[tuple[datetime, float | None]],
    baseline: float | None,
    threshold: float,
    width: int = 720,
    height: int = 160,
) -> SafeString:
    """Efficiency per hour (dots; none for an hour without AC) against the vehicle's baseline
    (dashed blue) and the alert threshold (dashed red), on a 0-1.2 scale."""
    left, bottom, top = 46, 34, 14
    n = max(1, len(hours))
    slot = (width - left - 10) / n
    plot = height - bottom - top

    def y(value: float) -> float:
        return height - bottom - min(max(value, 0.0), 1.2) / 1.2 * plot

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        'role="img" aria-label="Efficiency per hour against the baseline" '
        'class="efficiency-chart">',
        "<style>text{font:10px sans-serif;fill:#333}.dot{fill:#417690}"
        ".bad{fill:#ba2121}.base{fill:#2a6ebb}</style>",
        '<text x="4" y="10">efficiency (DC / AC) per hour</text>',
    ]
    for tick in (0.0, 0.4, 0.8, 1.2):
        gy = y(tick)
        parts.append(
            f'<line x1="{left}" y1="{gy:.1f}" x2="{width - 10}" y2="{gy:.1f}" stroke="#e5e5e5"/>'
        )
        parts.append(f'<text x="{left - 4}" y="{gy + 3:.1f}" text-anchor="end">{tick:g}</text>')
    for value, css, name in ((threshold, "bad", "threshold"), (baseline, "base", "baseline")):
        if value is None:
            continue
        stroke = "#ba2121" if css == "bad" else "#2a6ebb"
        parts.append(
            f'<line x1="{left}" y1="{y(value):.1f}" x2="{width - 10}" y2="{y(value):.1f}" '
            f'stroke="{stroke}" stroke-dasharray="4 3" class="{name}-line"/>'
        )
        parts.append(
            f'<text x="{width - 12}" y="{y(value) - 3:.1f}" text-anchor="end" class="{css}">'
            f"{name} {value:.4f}</text>"
        )
    for i, (hour, value) in enumerate(hours):
        cx = left + (i + 0.5) * slot
        if value is not None:
            css = "bad" if value < threshold else "dot"
            parts.append(
                f'<circle cx="{cx:.1f}" cy="{y(value):.1f}" r="3" class="{css}">'
                f"<title>{hour:%H:00} {value:.4f}</title></circle>"
            )
        if i % max(1, n // 8) == 0:
            parts.append(f'<text x="{cx - 12:.1f}" y="{height - 20}">{hour:%d %H:00}</text>')
    parts.append(
        f'<text x="{left + (width - left - 10) / 2:.1f}" y="{height - 4}" '
        f'text-anchor="middle">hour starting ({_zone([(h, 0.0, 0.0) for h, _ in hours])})</text>'
    )
    parts.append("</svg>")
    return mark_safe("".join(parts))
