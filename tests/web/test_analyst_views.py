"""The analyst pages' small view helpers: registry metrics, drift table, criteria in words (no server)."""

from __future__ import annotations

from datetime import date, timedelta

from smartcustoms.risk.drift import OfficeWeek
from smartcustoms.web.i18n import translator
from smartcustoms.web.pages.analyst import criteria_text, drift_view, flat_metrics, novel_precision


def test_a_versions_metrics_flatten_and_novel_goods_show_when_recorded():
    metrics = {"n_train": 90, "candidate": {"precision_at": {"10": 0.4}}, "live": {"precision_at": {"10": 0.3}},
               "live_novel": {"precision_at": {"10": 0.05}}}
    flat = flat_metrics(metrics)
    assert flat == {"n_train": 90, "candidate.precision_at.10": 0.4, "live.precision_at.10": 0.3,
                    "live_novel.precision_at.10": 0.05}
    assert novel_precision(flat) is None  # the live model's figure is not the version's own
    flat |= flat_metrics({"candidate_novel": {"precision_at": {"10": 0.12}}})
    assert novel_precision(flat) == 0.12


def _week(office: str, week: date, alert: bool, psi: float | None) -> OfficeWeek:
    return OfficeWeek(office, week, 50, 1, 200, psi, None, None, 0, 0, None, None, None, None, alert,
                      ("scores",) if alert else ())


def test_the_drift_table_shows_the_latest_four_weeks_newest_first_and_their_alerts():
    mondays = [date(2026, 9, 7) + timedelta(weeks=k) for k in range(8)]
    rows = [_week("0101", w, alert=k in (1, 7), psi=0.3 if k in (1, 7) else 0.01) for k, w in enumerate(mondays)]
    rows += [_week("2201", w, alert=False, psi=None) for w in mondays[-2:]]
    view = drift_view(rows)
    assert [r.week for r in view["table"]["0101"]] == mondays[:3:-1]
    assert [(a.office_code, a.week) for a in view["alerts"]] == [("0101", mondays[7])]  # week 1 is not shown
    assert list(view["psi"]) == ["0101"] and len(view["psi"]["0101"]) == 8  # no PSI at 2201: no line


def test_criteria_read_as_words_in_both_languages():
    criteria = [{"field": "hs_code", "op": "prefix", "value": ["6907", "6908"]},
                {"field": "customs_value", "op": "between", "value": [100, 500]},
                {"field": "origin_country", "op": "not_in", "value": ["CN"]}]
    assert criteria_text(criteria, translator("en")) == (
        "hs_code starts with 6907, 6908 and customs_value between 100 and 500 and origin_country is none of CN")
    assert criteria_text(criteria, translator("zh")) == (
        "hs_code 开头为 6907, 6908 且 customs_value 介于 100至500 且 origin_country 不属于 CN")
