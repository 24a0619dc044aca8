"""The analyst's pages: the risk dashboard (hit rates, lanes, scores, rules, tax, CBEC) and the rule editor."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from smartcustoms.cbec.ceb.statuses import STATUS_NAMES
from smartcustoms.core.db import transaction
from smartcustoms.core.errors import DomainError, FieldError, NotFound
from smartcustoms.core.security import Role
from smartcustoms.core.wire import Id
from smartcustoms.risk.targeting import service as risk_service
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
    mech_names = {m: t("mechanism." + m) for m in (*figures.MECHANISMS, "none")}
    series = {m: rates.by_week.get(m, [None] * len(rates.weeks)) for m in figures.MECHANISMS if m in rates.totals}
    plots: dict[str, Any] = {"hits": charts.line_chart(t("dash.hits"), [w[5:] for w in rates.weeks], series,
                                                       percent=True, display=mech_names)}
    held = {o: 1 - v.get("green", 0) / max(sum(v.values()), 1) for o, v in lanes.items()}
    plots["lanes"] = charts.bar_chart(t("dash.lanes"), list(held), {"held": list(held.values())}, percent=True,
                                      reference=config.budget if config is not None else None)
    bins = [f"{i / len(hist):.1f}" for i in range(len(hist))]
    plots["scores"] = charts.bar_chart(t("dash.scores"), bins, {"model": hist})
    plots["rules"] = charts.bar_chart(t("dash.rules"), [r["name"][:14] for r in rules],
                                      {"rule": [r["hits"] for r in rules]})
    plots["tax"] = charts.bar_chart(t("dash.tax"), [r["day"][5:] for r in tax], {"model": [r["tax"] for r in tax]})
    if cbec is not None:
        plots["cbec_hours"] = charts.bar_chart(t("dash.cbec_throughput"), cbec.hours, {"model": cbec.per_hour})
        plots["cbec_status"] = charts.bar_chart(t("dash.cbec_status"), [str(s) for s in cbec.status_counts],
                                                {"exploration": list(cbec.status_counts.values())})
    return render(request, "dashboard.html", rates=rates, lanes=lanes, held=held, budget=budget, hist=hist,
                  bins=bins, rules=rules, tax=tax, cbec=cbec, plots=plots, mechanisms=figures.MECHANISMS,
                  cbec_names=STATUS_NAMES, as_of=snap.at)


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


def _rule_page(request: Request, edit: dict | None, errors: dict, status_code: int = 200) -> Response:
    with platform_of(request).sessions() as s:
        rules = risk_service.list_rules(s)
    fields, numeric = _rule_fields()
    criteria = list((edit or {}).get("criteria") or [])
    criteria += [{"field": "", "op": "", "value": ""}] * max(0, 3 - len(criteria))
    return render(request, "rules.html", status_code=status_code, rules=rules, edit=edit or {}, errors=errors,
                  criteria=criteria, fields=fields, numeric=numeric, available=True,
                  ops=("eq", "ne", "in", "not_in", "prefix", "gt", "ge", "lt", "le", "between"))


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
    return _rule_page(request, current, {})


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
    except ValidationError as exc:
        return _rule_page(request, shown, by_field(field_errors(exc)), 422)
    except DomainError as exc:
        return _rule_page(request, shown, by_field(exc.errors or [FieldError("form", exc.detail)]), exc.status)
    platform.rules_changed()
    flash(request, "rules.saved", name=saved.name)
    return RedirectResponse("/rules", status_code=303)

