"""The dashboard's signatures-over-time chart as geometry for an SVG drawn by the template: the
counted total at each bucket's end, the threshold, labelled axes, and a sentence saying the same
for people who cannot see the chart."""

import math
from dataclasses import dataclass
from datetime import datetime

from petitions.reports.dashboard import Series

# Two sizes: a wide chart for wider screens and a narrow one with fewer labels for phones, so
# that the labels stay legible (the page shows one or the other).
WIDE, NARROW = 800, 360
HEIGHT = 300
LEFT, RIGHT, TOP, BOTTOM = 76, 14, 30, 52
Y_STEPS = 4


@dataclass(frozen=True)
class Tick:
    """An axis label at ``position`` (x for the time axis, y for the count axis)."""

    position: float
    label: str


@dataclass(frozen=True)
class Chart:
    """What the template needs to draw the chart; coordinates are in the SVG's viewBox."""

    width: int
    height: int
    left: int
    right: int
    top: int
    bottom: int
    line: str
    area: str
    x_ticks: list[Tick]
    y_ticks: list[Tick]
    threshold_y: float | None
    threshold: int | None
    summary: str
    empty: bool


def nice_step(value: float) -> int:
    """The smallest whole 1, 2 or 5 times a power of ten that is at least ``value``."""
    if value <= 1:
        return 1
    power = 10 ** math.floor(math.log10(value))
    return next(int(step * power) for step in (1, 2, 5, 10) if step * power >= value)


def count_axis(highest: int) -> list[int]:
    """The count axis's labels: 0 up to at least ``highest`` in 2 to 5 equal, round steps."""
    step = nice_step(max(highest, 1) / Y_STEPS)
    top = step * max(1, math.ceil(highest / step))
    return list(range(0, top + 1, step))


def _time_label(moment: datetime, width: int, with_day: bool) -> str:
    if width >= 86400:
        return f"{moment.day} {moment:%b}"
    clock = f"{moment:%H:%M}"
    return f"{moment.day} {moment:%b} {clock}" if with_day else clock


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}{'' if number == 1 else 's'}"


def build(series: Series, threshold: int | None, width: int = WIDE, x_labels: int = 5) -> Chart:
    """The chart of ``series`` against ``threshold`` (None for a petition not yet open),
    ``width`` units wide with at most ``x_labels`` labels on the time axis."""
    plot_w = width - LEFT - RIGHT
    plot_h = HEIGHT - TOP - BOTTOM
    buckets = series.buckets
    frame = {
        "width": width,
        "height": HEIGHT,
        "left": LEFT,
        "right": width - RIGHT,
        "top": TOP,
        "bottom": HEIGHT - BOTTOM,
        "threshold": threshold,
    }
    if not buckets:
        return Chart(
            **frame,
            line="",
            area="",
            x_ticks=[],
            y_ticks=[],
            threshold_y=None,
            summary="No signatures yet.",
            empty=True,
        )
    labels = count_axis(max(threshold or 0, max(b.total for b in buckets)))
    top_value = labels[-1]
    begin, end = buckets[0].start.timestamp(), buckets[-1].end.timestamp()

    def x(moment: datetime) -> float:
        return round(LEFT + (moment.timestamp() - begin) / (end - begin) * plot_w, 1)

    def y(value: float) -> float:
        return round(TOP + plot_h - value / top_value * plot_h, 1)

    points = [(x(buckets[0].start), y(buckets[0].total - buckets[0].confirmed))]
    points += [(x(b.end), y(b.total)) for b in buckets]
    line = " ".join(f"{px},{py}" for px, py in points)
    base = y(0)
    area = f"{points[0][0]},{base} {line} {points[-1][0]},{base}"

    y_ticks = [Tick(y(value), f"{value:,}") for value in labels]
    spans_days = buckets[-1].end.date() != buckets[0].start.date()
    edges = [buckets[0].start] + [b.end for b in buckets]
    step = max(1, math.ceil((len(edges) - 1) / (x_labels - 1)))
    x_ticks = [
        Tick(x(moment), _time_label(moment, series.width, spans_days)) for moment in edges[::step]
    ]
    busiest = max(buckets, key=lambda b: b.confirmed)
    summary = (
        f"{_count(buckets[-1].total, 'signature')} counted between "
        f"{_time_label(buckets[0].start, 60, True)} and "
        f"{_time_label(buckets[-1].end, 60, True)} UTC, shown per {series.unit}; "
        f"the busiest {series.unit} ({_time_label(busiest.start, series.width, spans_days)}) "
        f"had {_count(busiest.confirmed, 'signature')}."
    )
    if threshold:
        summary += f" The threshold is {threshold:,}."
    return Chart(
        **frame,
        line=line,
        area=area,
        x_ticks=x_ticks,
        y_ticks=y_ticks,
        threshold_y=y(threshold) if threshold else None,
        summary=summary,
        empty=False,
    )
