"""The dashboard's chart specifications: axes fitted to the data, gaps where data are missing, units, legends
in the reader's language, and the vendored ECharts build the pages load."""

from __future__ import annotations

import hashlib
import html
import json
import re
from datetime import date

import pytest

from smartcustoms.web import charts
from smartcustoms.web.pages.analyst import drift_view, grade_view, mechanism_view
from smartcustoms.web.pages.base import STATIC


def _option(chart: charts.Chart) -> dict:
    """The option as the page carries it (parsed back out of the rendered attribute)."""
    m = re.search(r'data-chart="([^"]*)"', chart.__html__())
    assert m, chart.__html__()
    return json.loads(html.unescape(m.group(1)))


@pytest.mark.parametrize(("values", "top", "step"), [
    ([0.0, 12.0, 3.0], 12.5, 2.5),
    ([0.37], 0.4, 0.1),
    ([880.0, 10.0], 1000.0, 200.0),
    ([5.0], 5.0, 1.0),
    ([100.0], 100.0, 20.0),
    ([1_234_567.0], 1_250_000.0, 250_000.0),
])
def test_value_axes_fit_the_data_in_at_most_five_round_steps(values, top, step):
    assert charts.nice_axis(values) == (top, step)


def test_an_empty_or_all_zero_axis_still_has_a_range():
    assert charts.nice_axis([]) == (1.0, 0.25)
    assert charts.nice_axis([None, 0.0]) == (1.0, 0.25)


def test_a_hit_rate_of_twelve_percent_is_not_drawn_on_a_hundred_percent_axis():
    chart = charts.line_chart("Hit rate", ["2026-11-02", "2026-11-09"], {"model": [0.08, 0.12]}, percent=True)
    axis = _option(chart)["yAxis"]
    assert (axis["min"], axis["max"], axis["interval"]) == (0, 12.5, 2.5)
    assert axis["axisLabel"]["formatter"] == "{value}%"
    assert chart.unit == "%"
    assert _option(chart)["series"][0]["data"] == [8.0, 12.0]


def test_percent_axes_stop_at_a_hundred():
    chart = charts.bar_chart("Held", ["a"], {"held": [0.99]}, percent=True)
    assert _option(chart)["yAxis"]["max"] == 100


def test_a_missing_week_is_a_gap_and_no_line_is_drawn_across_it():
    weeks = charts.mondays(date(2026, 10, 28), date(2026, 11, 18))  # a Wednesday to a Wednesday
    assert weeks == [date(2026, 10, 26), date(2026, 11, 2), date(2026, 11, 9), date(2026, 11, 16)]
    values = charts.align(weeks, {date(2026, 10, 26): 0.1, date(2026, 11, 16): 0.3})
    assert values == [0.1, None, None, 0.3]
    option = _option(charts.line_chart("PSI", [w.isoformat() for w in weeks], {"0101": values}))
    series = option["series"][0]
    assert series["data"] == [0.1, None, None, 0.3]
    assert series["connectNulls"] is False and series["showSymbol"] is True
    assert option["xAxis"]["data"] == ["2026-10-26", "2026-11-02", "2026-11-09", "2026-11-16"]


def test_the_drift_axis_lists_every_week_even_one_with_no_decisions():
    from smartcustoms.risk.drift import OfficeWeek

    def row(office: str, week: date, psi: float) -> OfficeWeek:
        return OfficeWeek(office_code=office, week=week, n=50, model_version=1, reference_n=200, psi=psi,
                          psi_level="stable", psi_p=0.5, inspected=0, hits=0, hit_rate=None,
                          reference_hit_rate=None, hit_rate_change=None, hit_rate_p=None, alert=False, reasons=())

    view = drift_view([row("0101", date(2026, 11, 2), 0.05), row("0101", date(2026, 11, 23), 0.3)])
    assert view["weeks"] == [date(2026, 11, 2), date(2026, 11, 9), date(2026, 11, 16), date(2026, 11, 23)]
    assert view["psi"]["0101"] == [0.05, None, None, 0.3]


def test_daily_axes_have_every_day():
    assert [d.day for d in charts.days(date(2026, 11, 29), date(2026, 12, 2))] == [29, 30, 1, 2]
    chart = charts.bar_chart("Tax", ["d1", "d2", "d3"], {"model": [10.0, None, 5.0]}, unit="CNY")
    assert _option(chart)["series"][0]["data"] == [10.0, None, 5.0]
    assert chart.unit == "CNY"


def test_titles_axis_names_and_legends_are_the_ones_given_in_the_readers_language():
    chart = charts.line_chart("各布控方式查获率", ["2026-11-02"], {"model": [0.1], "exploration": [None]},
                              percent=True, display={"model": "模型", "exploration": "随机抽查"},
                              x_name="周（自周一起）", y_name="查获率（%）")
    option = _option(chart)
    assert option["title"]["text"] == "各布控方式查获率"
    assert option["legend"]["data"] == ["模型", "随机抽查"]
    assert [s["name"] for s in option["series"]] == ["模型", "随机抽查"]
    assert (option["xAxis"]["name"], option["yAxis"]["name"]) == ("周（自周一起）", "查获率（%）")
    assert 'aria-label="各布控方式查获率"' in chart.__html__()


def test_a_reference_level_is_a_labelled_dashed_line_inside_the_axis():
    chart = charts.bar_chart("Held share", ["0101", "0102"], {"held": [0.04, 0.05]}, percent=True,
                             reference=0.10, reference_name="inspection budget")
    option = _option(chart)
    mark = option["series"][0]["markLine"]
    assert mark["data"][0]["yAxis"] == 10.0 and mark["data"][0]["name"] == "inspection budget"
    assert mark["lineStyle"]["type"] == "dashed"
    assert option["yAxis"]["max"] >= 10.0  # the budget line is inside the plot, not above it


def test_stacked_bars_fit_the_axis_to_the_stack():
    chart = charts.bar_chart("By grade", ["AEO", "general"], {"model": [0.02, 0.06], "rule": [0.01, 0.05]},
                             percent=True, stacked=True)
    option = _option(chart)
    assert option["yAxis"]["max"] >= 11.0
    assert all(s["stack"] == "total" for s in option["series"])


def test_markup_in_labels_is_escaped_in_the_attribute():
    chart = charts.bar_chart('<script>"x"</script>', ["<b>"], {"rule": [1.0]})
    text = chart.__html__()
    assert "<script>" not in text and "<b>" not in text
    assert _option(chart)["xAxis"]["data"] == ["<b>"]


def test_mechanism_view_explains_held_inspected_and_hits_in_a_fixed_order():
    totals = {"exploration": {"decisions": 100, "held": 10, "inspected": 5, "hits": 1, "hit_rate": 0.2},
              "model": {"decisions": 100, "held": 40, "inspected": 20, "hits": 8, "hit_rate": 0.4},
              "none": {"decisions": 800, "held": 0, "inspected": 0, "hits": 0, "hit_rate": 0.0}}
    view = mechanism_view(totals)
    assert [m["mechanism"] for m in view] == ["model", "exploration"]
    assert view[0]["inspected_share"] == 0.5 and view[0]["hit_rate"] == 0.4


def test_grade_view_puts_aeo_first_with_its_held_share():
    from smartcustoms.risk.targeting.service import GradeCounts

    g = GradeCounts({"general": 100, "advanced_certified": 50}, {"general": {"model": 8, "rule": 2},
                                                                 "advanced_certified": {"rule": 1}},
                    {"general": 6}, {"general": 2})
    view = grade_view(g)
    assert [r["grade"] for r in view] == ["advanced_certified", "general"]
    assert view[0]["held_share"] == 0.02 and view[1]["held"] == 10 and view[1]["inspected"] == 6


def test_the_vendored_echarts_build_is_the_pinned_one_with_its_licence():
    folder = STATIC / "vendor" / "echarts"
    js = folder / "echarts.common.min.js"
    assert hashlib.sha256(js.read_bytes()).hexdigest() == charts.ECHARTS_SHA256
    assert js == (STATIC / charts.ECHARTS_JS)
    assert "Apache License" in (folder / "LICENSE.txt").read_text()
    assert "Apache ECharts" in (folder / "NOTICE.txt").read_text()
    assert charts.ECHARTS_VERSION in (folder / "README.txt").read_text()


def test_count_axes_tick_in_whole_numbers():
    assert charts.nice_axis([1.0], whole=True) == (1.0, 1.0)
    assert charts.nice_axis([3.0], whole=True) == (3.0, 1.0)
    assert charts.nice_axis([7.0], whole=True) == (8.0, 2.0)
    chart = charts.bar_chart("Top rules by hits", ["ceramic tiles"], {"rule": [1]}, horizontal=True)
    assert _option(chart)["xAxis"]["interval"] == 1.0
