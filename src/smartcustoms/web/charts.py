"""Chart specifications for Apache ECharts, built on the server; every page shows the numbers in a table beside them.

A :class:`Chart` is an ECharts option (plain JSON) rendered as ``<div class="chart" data-chart="...">``;
``static/charts.js`` draws each one with the vendored ECharts build (``static/vendor/echarts``, served by the app:
no CDN, nothing fetched from elsewhere at page time) as SVG, in the page's language. The series, labels, axis
ranges and units are decided here, so they are tested without a browser:

- axes are fitted to the data (:func:`nice_axis`: 0 to a round maximum just above the largest value, at most
  five ticks), titled, and carry their unit (``%``, ``CNY``, a count);
- a series' ``None`` is a gap: no bar, and no line drawn across it (``connectNulls`` off); weekly and daily
  axes list every week or day of the range (:func:`mondays`, :func:`days`, :func:`align`), so a missing
  week shows as a gap, not as two neighbouring points;
- the legend shows the names the caller passes in the reader's language (``display``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from markupsafe import Markup, escape

#: the vendored build (``static/vendor/echarts``; see its README.txt) and the checksum a test holds it to
ECHARTS_JS = "vendor/echarts/echarts.common.min.js"
ECHARTS_VERSION = "6.1.0"
ECHARTS_SHA256 = "61f13280aba3161f77fc801bf5f9c786f55f10432153a0683fc5cc0700b013d5"

PALETTE = {"model": "#1f6fb2", "rule": "#c0392b", "exploration": "#7f8c8d", "mandatory": "#8e44ad",
           "green": "#2e8b57", "yellow": "#d4a017", "blue": "#2874a6", "red": "#c0392b",
           "held": "#1f6fb2", "inspected": "#e67e22", "hits": "#c0392b"}
CYCLE = ("#1f6fb2", "#e67e22", "#2e8b57", "#8e44ad", "#c0392b", "#7f8c8d", "#17a2b8", "#6c5b7b")
#: most categories a chart shows (longer lists are cut by the caller: the table beside has them all)
MAX_POINTS = 400
_STEPS = (1.0, 2.0, 2.5, 5.0)


def colour(name: str, i: int) -> str:
    """A series' colour: fixed for the known mechanisms, lanes and counts, else from the cycle."""
    return PALETTE.get(name, CYCLE[i % len(CYCLE)])


def nice_axis(values: Sequence[float | None], *, cap: float | None = None, ticks: int = 5,
              whole: bool = False) -> tuple[float, float]:
    """(maximum, tick interval) of a value axis from 0 that fits ``values``: the smallest round interval
    (1, 2, 2.5 or 5 times a power of ten; a whole number when ``whole``, for counts) that covers the largest
    value in at most ``ticks`` steps. ``cap`` bounds the maximum (100 for percentages). No data or only zeros:
    (1, 0.25), or (1, 1) for counts."""
    top = max((float(v) for v in values if v is not None and math.isfinite(v)), default=0.0)
    if top <= 0:
        return (1.0, 1.0) if whole else (1.0, 0.25)
    mag = 10 ** math.floor(math.log10(top / ticks))
    for m in (mag, mag * 10, mag * 100):
        for step in _STEPS:
            interval = step * m
            if whole and (interval < 1 or interval != int(interval)):
                continue
            n = math.ceil(top / interval - 1e-9)
            if n <= ticks:
                hi = interval * n
                if cap is not None and hi > cap:
                    hi = cap
                return round(hi, 10), round(interval, 10)
    raise AssertionError("unreachable: 10 × ticks steps of a magnitude cover the maximum")


def mondays(first: date, last: date) -> list[date]:
    """Every Monday from the week of ``first`` to the week of ``last`` (a weekly axis without missing weeks)."""
    start = first - timedelta(days=first.weekday())
    n = max(0, (last - start).days // 7 + 1)
    return [start + timedelta(weeks=i) for i in range(n)]


def days(first: date, last: date) -> list[date]:
    """Every day from ``first`` to ``last`` (a daily axis without missing days)."""
    return [first + timedelta(days=i) for i in range(max(0, (last - first).days + 1))]


def align(axis: Sequence[Any], points: Mapping[Any, float | None]) -> list[float | None]:
    """The values of ``points`` on ``axis``, ``None`` (a gap) where a point is missing."""
    return [points.get(k) for k in axis]


@dataclass(frozen=True)
class Chart:
    """An ECharts option with the title it is announced by; renders as the ``div`` that charts.js draws."""

    title: str
    option: dict[str, Any]
    unit: str = ""
    height: int = 260
    kind: str = field(default="line")

    def to_json(self) -> str:
        """The option as JSON (``None`` as ``null``: a gap)."""
        return json.dumps(self.option, ensure_ascii=False, separators=(",", ":"), allow_nan=False)

    def __html__(self) -> str:
        return (f'<div class="chart" role="img" aria-label="{escape(self.title)}" data-unit="{escape(self.unit)}" '
                f'data-kind="{escape(self.kind)}" data-height="{int(self.height)}" '
                f'data-chart="{escape(self.to_json())}"></div>')

    def __str__(self) -> str:
        return Markup(self.__html__())


def _value(v: float | None, percent: bool) -> float | None:
    if v is None or not math.isfinite(v):
        return None
    return round(v * 100, 2) if percent else round(float(v), 6)


def _axes(labels: Sequence[str], values: list[float | None], *, percent: bool, unit: str, x_name: str,
          y_name: str, horizontal: bool = False, stacked_top: float | None = None) -> dict[str, Any]:
    shown = [stacked_top] if stacked_top is not None else values
    whole = not percent and all(v is None or float(v).is_integer() for v in values)
    hi, interval = nice_axis(shown, cap=100.0 if percent else None, whole=whole)
    category = {"type": "category", "data": [str(x) for x in labels], "name": x_name,
                "nameLocation": "middle", "nameGap": 28, "axisTick": {"alignWithLabel": True}}
    value = {"type": "value", "min": 0, "max": hi, "interval": interval, "name": y_name,
             "nameLocation": "end", "nameGap": 10, "nameTextStyle": {"align": "left", "color": "#37424f"},
             "axisLabel": {"formatter": "{value}%" if percent else "{value}"}}
    if horizontal:
        category |= {"inverse": True, "nameLocation": "end", "nameGap": 8}
        value |= {"nameLocation": "middle", "nameGap": 26, "nameTextStyle": {"color": "#37424f"}}
        return {"xAxis": value, "yAxis": category}
    return {"xAxis": category, "yAxis": value}


def _base(title: str, names: list[str], subtitle: str = "", legend: bool = True) -> dict[str, Any]:
    option: dict[str, Any] = {
        "title": {"text": title, "subtext": subtitle, "left": 0, "textStyle": {"fontSize": 14}},
        "aria": {"enabled": True},
        "animation": False,
        "tooltip": {"trigger": "axis"},
        "grid": {"left": 8, "right": 24, "top": 88 if subtitle else 72, "bottom": 30, "containLabel": True},
    }
    if legend and names:
        option["legend"] = {"data": names, "top": 24 if not subtitle else 42, "right": 0, "type": "scroll"}
    return option


def _unit(percent: bool, unit: str) -> str:
    return "%" if percent else unit


def line_chart(title: str, labels: Sequence[str], series: Mapping[str, Sequence[float | None]], *,
               percent: bool = False, display: Mapping[str, str] | None = None, unit: str = "", x_name: str = "",
               y_name: str = "", marks: Sequence[tuple[float, str]] = (), subtitle: str = "") -> Chart:
    """One line per series over ``labels``; ``None`` leaves a gap (no line across it).

    ``percent``: values are shares (0..1), shown as % on an axis capped at 100 %. ``marks``: horizontal
    reference lines (value, label), e.g. thresholds; the axis stretches to show them."""
    labels = list(labels)[-MAX_POINTS:]
    shown = {k: [_value(v, percent) for v in list(vals)[-len(labels):]] if labels else []
             for k, vals in series.items()}
    names = [(display or {}).get(k, k) for k in shown]
    values = [v for vals in shown.values() for v in vals] + [_value(m, percent) for m, _ in marks]
    option = _base(title, names, subtitle) | _axes(labels, values, percent=percent, unit=unit, x_name=x_name,
                                                   y_name=y_name)
    option["xAxis"]["boundaryGap"] = False
    out = []
    for i, (key, vals) in enumerate(shown.items()):
        s: dict[str, Any] = {"name": names[i], "type": "line", "data": vals, "connectNulls": False,
                             "showSymbol": True, "symbolSize": 6, "color": colour(key, i)}
        if i == 0 and marks:
            s["markLine"] = {"symbol": "none", "silent": True, "lineStyle": {"type": "dashed", "color": "#c0392b"},
                             "data": [{"yAxis": _value(m, percent), "name": text,
                                       "label": {"formatter": text, "position": "insideEndTop"}} for m, text in marks]}
        out.append(s)
    option["series"] = out
    return Chart(title, option, _unit(percent, unit), kind="line")


def bar_chart(title: str, labels: Sequence[str], series: Mapping[str, Sequence[float | None]], *,
              percent: bool = False, reference: float | None = None, reference_name: str = "",
              display: Mapping[str, str] | None = None, unit: str = "", x_name: str = "", y_name: str = "",
              stacked: bool = False, horizontal: bool = False, subtitle: str = "", height: int = 260) -> Chart:
    """Grouped (or ``stacked``) bars, one group per label and one bar per series; ``None``: no bar.

    ``reference`` draws a dashed level (e.g. the inspection budget) labelled ``reference_name``."""
    labels = list(labels)[-MAX_POINTS:]
    shown = {k: [_value(v, percent) for v in list(vals)[-len(labels):]] if labels else []
             for k, vals in series.items()}
    names = [(display or {}).get(k, k) for k in shown]
    values = [v for vals in shown.values() for v in vals] + [_value(reference, percent)]
    top = None
    if stacked and labels:
        top = max(sum(vals[i] or 0 for vals in shown.values()) for i in range(len(labels)))
    option = _base(title, names, subtitle, legend=len(shown) > 1) | _axes(
        labels, values, percent=percent, unit=unit, x_name=x_name, y_name=y_name, horizontal=horizontal,
        stacked_top=max(top, _value(reference, percent) or 0) if top is not None else None)
    option["tooltip"]["axisPointer"] = {"type": "shadow"}
    out = []
    for i, (key, vals) in enumerate(shown.items()):
        s: dict[str, Any] = {"name": names[i], "type": "bar", "data": vals, "color": colour(key, i),
                             "barMaxWidth": 36}
        if stacked:
            s["stack"] = "total"
        if i == 0 and reference is not None:
            text = reference_name or str(_value(reference, percent))
            axis = "xAxis" if horizontal else "yAxis"
            s["markLine"] = {"symbol": "none", "silent": True, "lineStyle": {"type": "dashed", "color": "#c0392b"},
                             "data": [{axis: _value(reference, percent), "name": text,
                                       "label": {"formatter": text, "position": "insideEndTop"}}]}
        out.append(s)
    option["series"] = out
    return Chart(title, option, _unit(percent, unit), height=height, kind="bar")
