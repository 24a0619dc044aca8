"""The analyst's pages: the risk dashboard (hit rates, drift, lanes, scores, rules, tax, CBEC, manifest carriers),
the rule editor (backtest, history) and the model registry."""

from __future__ import annotations

import re
import time
from datetime import date
from typing import Annotated, Any

from fastapi import Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from smartcustoms.cbec.ceb.statuses import STATUS_NAMES
from smartcustoms.core.db import transaction
from smartcustoms.core.errors import DomainError, FieldError, NotFound
from smartcustoms.core.security import Role
from smartcustoms.core.wire import Id
from smartcustoms.risk.drift import ALPHA, OfficeWeek
from smartcustoms.risk.targeting import api as risk_api
from smartcustoms.risk.targeting import service as risk_service
from smartcustoms.risk.targeting.policy import GRADE_FACTOR
from smartcustoms.risk.targeting.rules import criteria_problems
from smartcustoms.risk.targeting.schemas import RuleIn
from smartcustoms.web import charts
from smartcustoms.web import dashboard as figures
from smartcustoms.web.i18n import language_of, translator
from smartcustoms.web.pages.base import (
    CUSTOMS,
    by_field,
    checked_form,
    field_errors,
    flash,
    form_int,
    login,
    page_router,
    platform_of,
    render,
)
from smartcustoms.web.rule_fields import catalogue

router = page_router()


@router.get("/dashboard")
def dashboard(request: Request) -> Response:
    """The analyst dashboard: hit rate per selection mechanism, lanes per office, scores, rules, tax, CBEC."""
    login(request, *CUSTOMS)
    platform = platform_of(request)
    t = translator(language_of(request))
    snap = figures.dashboard(platform.sessions)
    rates, lanes, hist, tax = snap.rates, snap.profile.lanes, snap.profile.histogram, snap.profile.tax
    rules = snap.rules[:10]
    cbec = snap.cbec if snap.cbec.status_counts else None  # no parcel cleared yet
    risk = getattr(platform, "risk", None)
    config = getattr(risk, "config", None)
    budget = {o: config.budget_for(o) for o in lanes} if config is not None else {}
    held = held_share(lanes)
    plots = dashboard_plots(t, snap, held, config)
    drift = drift_view(snap.drift)
    if drift["offices"]:
        plots["drift"] = charts.line_chart(
            t("drift.chart"), [w.isoformat() for w in drift["weeks"]], drift["psi"], x_name=t("chart.week"),
            y_name="PSI", marks=[(0.1, t("chart.psi_moderate")), (0.25, t("chart.psi_significant"))])
    mech = mechanism_view(rates.totals)
    bins = [f"{i / len(hist):.1f}" for i in range(len(hist))]
    carriers = carrier_view(platform, request.app.state)
    if carriers:
        kinds = ("filings", "late", "amended", "referred")
        plots["carriers"] = charts.bar_chart(
            t("carriers.chart"), [c["filer_code"] for c in carriers], {k: [c[k] for c in carriers] for k in kinds},
            display={k: t("carriers." + k) for k in kinds}, y_name=t("carriers.filings_axis"), horizontal=True,
            height=max(200, 80 + 36 * len(carriers)))
    return render(request, "dashboard.html", carriers=carriers, rates=rates, lanes=lanes, held=held, budget=budget,
                  hist=hist,
                  bins=bins, rules=rules, tax=tax, cbec=cbec, plots=plots, mechanisms=figures.MECHANISMS,
                  cbec_names=STATUS_NAMES, as_of=snap.at, drift=drift, mech=mech, grades=grade_view(snap.grades),
                  grade_factor=GRADE_FACTOR, echarts=charts.ECHARTS_JS)


CARRIERS_SHOWN = 15
CARRIERS_TTL_S = 10.0  # the per-carrier counts scan the filings: read at most every 10 s per deployment


def carrier_view(platform: Any, state: Any) -> list[dict[str, Any]]:
    """The manifest carriers with the most filings: filings, late, amended, referred, decided referrals and the
    hit rate where officers decided some (from ``ManifestService.carrier_statistics``), with the late and
    referred shares. Kept for ``CARRIERS_TTL_S`` in ``state`` (the app's: one cache per deployment)."""
    now = time.monotonic()
    cached: tuple[float, list[dict[str, Any]]] | None = getattr(state, "carrier_cache", None)
    if cached is not None and now - cached[0] < CARRIERS_TTL_S:
        return cached[1]
    rows = sorted(platform.manifests.carrier_statistics(), key=lambda r: (-r["filings"], r["filer_code"]))
    out = [r | {"late_share": r["late"] / r["filings"], "referred_share": r["referred"] / r["filings"]}
           for r in rows[:CARRIERS_SHOWN] if r["filings"]]
    state.carrier_cache = (now, out)
    return out


def held_share(lanes: dict[str, dict[str, int]]) -> dict[str, float]:
    """Per office: the share of its declarations held (any lane but green)."""
    return {o: 1 - v.get("green", 0) / max(sum(v.values()), 1) for o, v in lanes.items()}


def mechanism_view(totals: dict[str, dict[str, float]]) -> list[dict[str, Any]]:
    """Per selection mechanism (in the order the dashboard explains them): decisions, held, inspected, hits,
    the share of held ones inspected so far and the hit rate."""
    order = [*figures.MECHANISMS, *sorted(m for m in totals if m not in figures.MECHANISMS and m != "none")]
    out = []
    for m in order:
        v = totals.get(m)
        if v is None:
            continue
        held, inspected = int(v["held"]), int(v["inspected"])
        out.append({"mechanism": m, "decisions": int(v["decisions"]), "held": held, "inspected": inspected,
                    "hits": int(v["hits"]), "inspected_share": inspected / held if held else None,
                    "hit_rate": v["hit_rate"] if inspected else None})
    return out


GRADES = ("advanced_certified", "general_certified", "general", "discredited")


def grade_view(g: risk_service.GradeCounts) -> list[dict[str, Any]]:
    """Per credit grade (AEO first): decisions, held per mechanism, held share, inspections and hits."""
    out = []
    for grade in [*GRADES, *sorted(x for x in g.decisions if x not in GRADES)]:
        n = g.decisions.get(grade, 0)
        if not n:
            continue
        held = g.held.get(grade, {})
        total = sum(held.values())
        out.append({"grade": grade, "decisions": n, "held": total, "by_mechanism": held, "held_share": total / n,
                    "inspected": g.inspected.get(grade, 0), "hits": g.hits.get(grade, 0)})
    return out


def dashboard_plots(t, snap: figures.Dashboard, held: dict[str, float], config: Any) -> dict[str, charts.Chart]:
    """The dashboard's charts (ECharts options), titled, with units and legends in the reader's language."""
    rates, profile = snap.rates, snap.profile
    mech_names = {m: t("mechanism." + m) for m in (*figures.MECHANISMS, "none")}
    series = {m: rates.by_week.get(m, [None] * len(rates.weeks)) for m in figures.MECHANISMS if m in rates.totals}
    plots: dict[str, charts.Chart] = {"hits": charts.line_chart(
        t("dash.hits"), rates.weeks, series, percent=True, display=mech_names, x_name=t("chart.week"),
        y_name=t("chart.hit_rate"))}
    mech = mechanism_view(rates.totals)
    plots["mechanisms"] = charts.bar_chart(
        t("mech.title"), [mech_names.get(m["mechanism"], m["mechanism"]) for m in mech],
        {k: [m[k] for m in mech] for k in ("held", "inspected", "hits")},
        display={"held": t("chart.held"), "inspected": t("chart.inspected"), "hits": t("chart.hits")},
        y_name=t("chart.declarations"))
    grades = grade_view(snap.grades)
    if grades:
        mechs = [m for m in figures.MECHANISMS if any(m in g["by_mechanism"] for g in grades)]
        plots["grades"] = charts.bar_chart(
            t("grade_chart.title"), [t("grade." + g["grade"]) for g in grades],
            {m: [g["by_mechanism"].get(m, 0) / g["decisions"] for g in grades] for m in mechs},
            percent=True, stacked=True, display=mech_names, y_name=t("chart.held_share"),
            reference=config.budget if config is not None else None,
            reference_name=t("chart.budget") if config is not None else "")
    plots["lanes"] = charts.bar_chart(
        t("dash.lanes"), list(held), {"held": list(held.values())}, percent=True,
        display={"held": t("chart.held_share")}, x_name=t("chart.office"), y_name=t("chart.held_share"),
        reference=config.budget if config is not None else None, reference_name=t("chart.budget"))
    hist = profile.histogram
    plots["scores"] = charts.bar_chart(
        t("dash.scores"), [f"{i / len(hist):.1f}–{(i + 1) / len(hist):.1f}" for i in range(len(hist))],
        {"model": hist}, display={"model": t("chart.declarations")}, x_name=t("chart.score"),
        y_name=t("chart.declarations"))
    rules = snap.rules[:10]
    if rules:
        plots["rules"] = charts.bar_chart(
            t("dash.rules"), [r["name"] for r in rules], {"rule": [r["hits"] for r in rules]},
            display={"rule": t("chart.hits")}, y_name=t("chart.hits"), horizontal=True,
            height=max(200, 60 + 28 * len(rules)))
    tax = profile.tax
    if tax:
        by_day = {r["day"]: r["tax"] for r in tax}
        axis = [d.isoformat() for d in charts.days(date.fromisoformat(tax[0]["day"]),
                                                   date.fromisoformat(tax[-1]["day"]))]
        plots["tax"] = charts.bar_chart(t("dash.tax"), axis, {"model": charts.align(axis, by_day)},
                                        display={"model": t("chart.tax")}, unit="CNY", x_name=t("chart.day"),
                                        y_name=t("chart.cny"))
    cbec = snap.cbec
    if cbec.status_counts:
        plots["cbec_hours"] = charts.bar_chart(
            t("dash.cbec_throughput"), cbec.hours, {"model": cbec.per_hour}, display={"model": t("chart.parcels")},
            x_name=t("chart.hour"), y_name=t("chart.parcels"))
        plots["cbec_status"] = charts.bar_chart(
            t("dash.cbec_status"), [f"{s} {t(f'parcel_status.{s}')}" for s in cbec.status_counts],
            {"exploration": list(cbec.status_counts.values())}, display={"exploration": t("chart.parcels")},
            y_name=t("chart.parcels"), horizontal=True, height=max(200, 60 + 28 * len(cbec.status_counts)))
    return plots


#: weeks of each office the drift table shows (the plot shows all the dashboard reads)
DRIFT_SHOWN = 4


def drift_view(rows: list[OfficeWeek]) -> dict[str, Any]:
    """The drift table (latest weeks per office, newest first), the PSI series per office, and the alerts."""
    present = sorted({r.week for r in rows})
    weeks = charts.mondays(present[0], present[-1]) if present else []  # every week: a missing one is a gap
    offices = sorted({r.office_code for r in rows})
    at = {(r.office_code, r.week): r for r in rows}
    psi = {o: [at[(o, w)].psi if (o, w) in at else None for w in weeks] for o in offices}
    shown = weeks[-DRIFT_SHOWN:][::-1]
    table = {o: [at[(o, w)] for w in shown if (o, w) in at] for o in offices}
    alerts = sorted((r for r in rows if r.alert and r.week in shown),
                    key=lambda r: (-r.week.toordinal(), r.office_code))
    return {"weeks": weeks, "offices": offices, "psi": {o: v for o, v in psi.items() if any(x is not None for x in v)},
            "table": table, "alerts": alerts, "alpha": ALPHA}


def _rule_fields() -> tuple[list[str], frozenset[str]]:
    try:
        from smartcustoms.risk.targeting.rules import NUMBER_FIELDS, RULE_FIELDS, TEXT_FIELDS
    except ImportError:  # risk targeting not installed in this deployment
        return [], frozenset()
    return sorted(RULE_FIELDS), frozenset(NUMBER_FIELDS - TEXT_FIELDS)


def _value(raw: str, op: str, numeric: bool) -> Any:
    """A condition's value from its text box: lists split on commas, numbers for numeric fields."""
    def one(x: str) -> Any:
        x = x.strip()
        if numeric:
            try:
                return float(x) if any(c in x for c in ".eE") else int(x)
            except ValueError:
                return x
        return x
    if op in ("in", "not_in", "prefix", "between"):
        return [one(x) for x in raw.split(",") if x.strip()]
    return one(raw)


def rule_from_form(form) -> dict:
    """The rule definition of the editor's form (criteria rows ``criteria[0].field`` ...)."""
    _, numeric = _rule_fields()
    rows: dict[int, dict[str, str]] = {}
    for key, value in form.multi_items():
        m = re.match(r"^criteria\[(\d{1,2})\]\.(field|op|value)$", key)
        if m:
            rows.setdefault(int(m.group(1)), {})[m.group(2)] = str(value).strip()
    criteria = [{"field": r.get("field", ""), "op": r.get("op", ""),
                 "value": _value(r.get("value", ""), r.get("op", ""), r.get("field") in numeric)}
                for _, r in sorted(rows.items()) if r.get("field") or r.get("value")]
    obj: dict[str, Any] = {"name": str(form.get("name", "")).strip(),
                           "description": str(form.get("description", "")).strip(),
                           "lane": form.get("lane", ""), "mandatory": form.get("mandatory") == "on",
                           "active": form.get("active") == "on", "criteria": criteria,
                           "target_rate": str(form.get("target_rate") or "1").strip()}
    for k in ("valid_from", "valid_to"):
        if form.get(k):
            obj[k] = str(form.get(k))
    return obj


def _rule_page(request: Request, edit: dict | None, errors: dict, status_code: int = 200,
               backtest: risk_service.Backtest | None = None, history: list[dict] | None = None) -> Response:
    with platform_of(request).sessions() as s:
        rules = risk_service.list_rules(s)
    fields, numeric = _rule_fields()
    criteria = list((edit or {}).get("criteria") or [])
    criteria += [{"field": "", "op": "", "value": ""}] * max(1 if len(criteria) < 20 else 0, 3 - len(criteria))
    field_list = catalogue(translator(language_of(request))) if fields else []
    return render(request, "rules.html", status_code=status_code, rules=rules, edit=edit or {}, errors=errors,
                  criteria=criteria, fields=fields, numeric=numeric, available=True, backtest=backtest,
                  field_list=field_list, field_groups=("declaration", "feature", "parcel"),
                  history=history or [], criteria_text=criteria_text,
                  ops=("eq", "ne", "in", "not_in", "prefix", "gt", "ge", "lt", "le", "between"))


def criteria_text(criteria: list, t) -> str:
    """A rule's criteria (conditions or their dicts) in words: ``hs_code starts with 6907 and customs_value > 1000``."""
    parts = []
    for c in (x.model_dump() if hasattr(x, "model_dump") else x for x in criteria):
        v = c.get("value")
        if c.get("op") == "between" and isinstance(v, list) and len(v) == 2:
            shown = t("rules.text.between", low=v[0], high=v[1])
        else:
            shown = _shown(v)
        op = "op_between" if c.get("op") == "between" else str(c.get("op"))
        parts.append(f"{c.get('field')} {t('rules.text.' + op)} {shown}")
    return f" {t('rules.text.and')} ".join(parts)


def _shown(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return "" if value is None else str(value)


@router.get("/rules")
def rules_page(request: Request, edit: Annotated[Id | None, Query()] = None) -> Response:
    """The risk rules with their matches, selections and hits, and the editor (a rule to edit, or a new one)."""
    login(request, Role.ANALYST, Role.ADMIN)
    current = None
    if edit is not None:
        with platform_of(request).sessions() as s:
            rule = next((r for r in risk_service.list_rules(s) if r.id == edit), None)
        if rule is None:
            raise NotFound(f"no rule {edit}")
        current = rule.model_dump()
        current["criteria"] = [{**c, "value": _shown(c.get("value"))} for c in current["criteria"]]
        with platform_of(request).sessions() as s:
            backtest = risk_service.backtest_rule(s, risk_service.stored_rule(s, edit))
            history = risk_service.rule_history(s, edit)
        return _rule_page(request, current, {}, backtest=backtest, history=history)
    return _rule_page(request, current, {})


@router.post("/rules/backtest")
async def rules_backtest(request: Request) -> Response:
    """The editor's criteria (not saved) run over the last 30 days' declarations: what they would have selected."""
    login(request, Role.ANALYST, Role.ADMIN)
    form = await checked_form(request)
    obj = rule_from_form(form)
    rule_id = form_int(form.get("rule_id"))
    shown = {**obj, "id": rule_id, "criteria": [{**c, "value": _shown(c["value"])} for c in obj["criteria"]]}
    try:
        rule = RuleIn.model_validate(obj)
        with platform_of(request).sessions() as s:
            backtest = await run_in_threadpool(risk_service.backtest_rule, s, rule)
            history = risk_service.rule_history(s, rule_id) if rule_id else []
            stored = next((r for r in risk_service.list_rules(s) if r.id == rule_id), None) if rule_id else None
        if stored is not None:
            shown |= {"created_by": stored.created_by, "created_at": stored.created_at,
                      "updated_at": stored.updated_at}
    except ValidationError as exc:
        return _rule_page(request, shown, by_field(field_errors(exc)), 422)
    except DomainError as exc:
        return _rule_page(request, shown, by_field(exc.errors or [FieldError("form", exc.detail)]), exc.status)
    return _rule_page(request, shown, {}, backtest=backtest, history=history)


@router.post("/rules")
async def rules_save(request: Request) -> Response:
    """Create or replace a rule; a bad definition comes back with each wrong field marked, nothing saved."""
    who = login(request, Role.ANALYST, Role.ADMIN)
    form = await checked_form(request)
    platform = platform_of(request)
    obj = rule_from_form(form)
    rule_id = form_int(form.get("rule_id"))
    shown = {**obj, "id": rule_id, "criteria": [{**c, "value": _shown(c["value"])} for c in obj["criteria"]]}
    try:
        rule = RuleIn.model_validate(obj)
        with transaction(platform.sessions) as s:
            saved = risk_service.save_rule(s, rule, who, rule_id)
    except ValidationError as exc:  # with the criteria's own problems, all in one round
        errors = field_errors(exc)
        errors += criteria_problems(obj["criteria"], {e.field for e in errors})
        return _rule_page(request, shown, by_field(errors), 422)
    except DomainError as exc:
        return _rule_page(request, shown, by_field(exc.errors or [FieldError("form", exc.detail)]), exc.status)
    platform.rules_changed()
    flash(request, "rules.saved", name=saved.name)
    return RedirectResponse("/rules", status_code=303)



# -- the model registry ----------------------------------------------------------------------------------
def flat_metrics(metrics: dict, prefix: str = "") -> dict[str, Any]:
    """A version's metrics as one level of dotted names (``candidate.precision_at.10`` ...)."""
    out: dict[str, Any] = {}
    for k, v in metrics.items():
        name = f"{prefix}{k}"
        if isinstance(v, dict):
            out |= flat_metrics(v, name + ".")
        else:
            out[name] = v
    return out


def novel_precision(flat: dict[str, Any]) -> float | None:
    """A version's hit rate at the top 10 % on novel goods, when its metrics recorded one (not the live model's)."""
    return next((v for k, v in flat.items() if "novel" in k and k.endswith("precision_at.10")
                 and not k.startswith("live") and isinstance(v, int | float)), None)


def _models_page(request: Request, a: int | None = None, b: int | None = None, confirm: dict | None = None,
                 status_code: int = 200) -> Response:
    with platform_of(request).sessions() as s:
        versions = risk_service.list_models(s)
    by_version = {v.version: v for v in versions}
    live = next((v for v in versions if v.status == "live"), None)
    if a is None and b is None and live is not None:  # by default: the live model and the newest other version
        a, b = live.version, next((v.version for v in reversed(versions) if v.status != "live"), None)
    compare = None
    if a in by_version and b in by_version:
        left, right = flat_metrics(by_version[a].metrics), flat_metrics(by_version[b].metrics)
        names = [*left, *(k for k in right if k not in left)]
        compare = {"a": by_version[a], "b": by_version[b], "rows": [(k, left.get(k), right.get(k)) for k in names]}
    return render(request, "models.html", status_code=status_code, versions=versions[::-1], live=live,
                  compare=compare, a=a, b=b, confirm=confirm, flat=flat_metrics, novel=novel_precision,
                  any_novel=any(novel_precision(flat_metrics(v.metrics)) is not None for v in versions))


@router.get("/models")
def models_page(request: Request, a: Annotated[Id | None, Query()] = None,
                b: Annotated[Id | None, Query()] = None) -> Response:
    """The model registry: versions with status, training window and metrics; two of them side by side."""
    login(request, Role.ANALYST, Role.ADMIN)
    return _models_page(request, a, b)


@router.post("/models/train")
async def models_train(request: Request) -> Response:
    """Train a candidate (the API's train operation, audited) and compare it with the live model."""
    who = login(request, Role.ANALYST, Role.ADMIN)
    form = await checked_form(request)
    days = form_int(form.get("holdout_days")) or 14
    platform = platform_of(request)
    try:
        out = await run_in_threadpool(risk_api.train, holdout_days=max(1, min(days, 3650)), who=who,
                                      platform=platform)
    except DomainError as exc:
        flash(request, "models.failed", kind="error", detail=exc.detail)
        return RedirectResponse("/models", status_code=303)
    flash(request, "models.trained_ok", version=out.version)
    with platform.sessions() as s:
        live = next((v.version for v in risk_service.list_models(s) if v.status == "live"), None)
    target = f"/models?a={live}&b={out.version}#compare" if live else "/models"
    return RedirectResponse(target, status_code=303)


@router.post("/models/{version}/promote")
async def models_promote(request: Request, version: Id) -> Response:
    """Promote a version to live; the first post shows what will change and asks to confirm."""
    who = login(request, Role.ANALYST, Role.ADMIN)
    form = await checked_form(request)
    platform = platform_of(request)
    if form.get("confirm") != "yes":
        return _models_page(request, confirm={"action": "promote", "version": version})
    try:
        risk_api.promote(version=version, who=who, platform=platform)
    except DomainError as exc:
        flash(request, "models.failed", kind="error", detail=exc.detail)
        return RedirectResponse("/models", status_code=303)
    flash(request, "models.promoted_ok", version=version)
    return RedirectResponse("/models", status_code=303)


@router.post("/models/rollback")
async def models_rollback(request: Request) -> Response:
    """Go back to the previous live version; the first post shows what will change and asks to confirm."""
    who = login(request, Role.ANALYST, Role.ADMIN)
    form = await checked_form(request)
    platform = platform_of(request)
    if form.get("confirm") != "yes":
        return _models_page(request, confirm={"action": "rollback"})
    try:
        out = risk_api.rollback(who=who, platform=platform)
    except DomainError as exc:
        flash(request, "models.failed", kind="error", detail=exc.detail)
        return RedirectResponse("/models", status_code=303)
    flash(request, "models.rolled_back_ok", version=out.version)
    return RedirectResponse("/models", status_code=303)
