"""Image review pages: the officers' queue of scans the machine did not clear, one scan's review page with its
decision form, and the threat-image-projection (TIP) quality page for analysts.

The pages read and write through the images service (``platform.images``, ``inspection/images/service.py``);
the scan's pixels and heat map come from its API (``/api/v1/images/{id}/pixels.png``, ``heatmap.png``), which
takes the web session's cookie. Zoom, pan, contrast and the heat map's opacity are client-side
(``static/scan_viewer.js``).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Annotated, Any

from fastapi import Path, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from smartcustoms.core.clock import utcnow
from smartcustoms.core.errors import Conflict, NotFound, ValidationProblem
from smartcustoms.core.security import Role
from smartcustoms.declarations.listing import PAGE_SIZES
from smartcustoms.inspection.images.materials import materials
from smartcustoms.inspection.images.schemas import MAX_MARKS, THREAT_CATEGORIES, ImageOut, ReviewIn
from smartcustoms.inspection.schemas import OFFENCE_TYPES
from smartcustoms.web.i18n import language_of, translator
from smartcustoms.web.pages.base import (
    by_field,
    checked_form,
    field_errors,
    flash,
    form_int,
    login,
    page_router,
    platform_of,
    render,
    signed_in,
    templates,
)

router = page_router()

ImageId = Annotated[int, Path(ge=1, le=2**63 - 1)]
QUEUE_PAGE = 50
REASON_MAX = 2000  # as ReviewIn.reason
PREVIOUS = 8  # earlier images of the same importer and goods shown as thumbnails
#: the nav's badge counts open jobs up to this many ("99+" beyond)
BADGE_CAP = 100
#: the decisions an officer may take, by the machine's call: "threat" when the image was routed to review
#: (agree: confirm_threat; disagree: override_clear), "clear" when it was cleared automatically
CHOICES = {"threat": ("confirm_threat", "override_clear"), "clear": ("confirm_clear", "override_threat")}
THREAT_DECISIONS = frozenset({"confirm_threat", "override_threat"})
#: who sees scans and the queue (the images service's readers), who sees officers' TIP scores
READERS = (Role.OFFICER, Role.ANALYST)
TIP_READERS = (Role.ANALYST, Role.ADMIN)
#: an image's states in which it waits for an officer's decision
OPEN = ("awaiting_review", "unassessed")


# -- reading the machine's words in the reader's language -----------------------------------------------------
#: the image model's consistency reasons (``inspection/images/model.py``, ``check_consistency``) as templates:
#: the key ``image_reason.<name>`` holds the sentence in each language. Placeholders: numbers (``m``, ``d``, ...),
#: ``kind``/``kind2`` (a material class, ``image_kind.*``) and ``materials`` (the declared goods' material labels,
#: ``image_material.*``). A sentence the list does not know is shown as the model wrote it;
#: ``tests/web/test_image_review.py`` feeds every sentence the model can say through it.
REASON_TEMPLATES: tuple[tuple[str, str], ...] = (
    ("more_mass", "about {m} t in the beam where the declared {d} t and at most {tare} t of container and vehicle "
                  "explain {total} t: more mass than declared"),
    ("less_mass", "about {m} t in the beam where the declaration gives {d} t of goods: less mass than declared"),
    ("mass_fits", "mass in the beam ({m} t) fits the declared {d} t plus container and vehicle"),
    ("single_energy", "single-energy scan: the material cannot be told and the model was trained on dual-energy "
                      "scans; an officer should look"),
    ("no_goods", "no goods seen in the image (nothing attenuates the beam beyond the container)"),
    ("no_hs", "no declared goods with a valid HS code to compare the image with"),
    ("ratio_fits", "dual-energy ratio of the goods {r} ({kind}) fits: the declared {materials} predict {e} ({kind2})"),
    ("ratio_differs", "dual-energy ratio of the goods {r} ({kind}) where the declared {materials} predict {e} "
                      "({kind2}): another material than declared"),
)
#: the model's material classes (``model._kind``), by the key of their name
KINDS = {"organic-like": "organic", "light-metal or mineral-like": "light", "metal-like": "metal"}
_NUMBER = r"-?\d+(?:\.\d+)?"


def _pattern(template: str) -> re.Pattern[str]:
    out, pos = [], 0
    for m in re.finditer(r"\{(\w+)\}", template):
        name = m.group(1)
        out.append(re.escape(template[pos:m.start()]))
        if name in ("kind", "kind2"):
            out.append(f"(?P<{name}>{'|'.join(re.escape(k) for k in sorted(KINDS, key=len, reverse=True))})")
        elif name == "materials":
            out.append(r"(?P<materials>.+?)")
        else:
            out.append(f"(?P<{name}>{_NUMBER})")
        pos = m.end()
    out.append(re.escape(template[pos:]))
    return re.compile("^" + "".join(out) + "$")


@lru_cache(maxsize=1)
def _reason_patterns() -> tuple[tuple[str, re.Pattern[str]], ...]:
    return tuple((f"image_reason.{key}", _pattern(tpl)) for key, tpl in REASON_TEMPLATES)


@lru_cache(maxsize=1)
def _material_labels() -> dict[str, str]:
    """Material label (as the model writes it) → material name (the key of its translation), longest first."""
    return {m.label: name for name, m in sorted(materials().items(), key=lambda kv: -len(kv[1].label))}


def _materials_text(t: Any, text: str) -> str | None:
    """A ", "-joined list of material labels in the reader's language (None when a label is unknown)."""
    names, rest = [], text
    while rest:
        label = next((x for x in _material_labels() if rest.startswith(x)), None)
        if label is None:
            return None
        names.append(str(t(f"image_material.{_material_labels()[label]}")))
        rest = rest[len(label):]
        if rest and not rest.startswith(", "):
            return None
        rest = rest[2:]
    return str(t("images.list_sep")).join(names)


def reason_text(t: Any, english: str) -> str:
    """One of the model's reasons in the reader's language (its own words when the list does not know it)."""
    for key, pattern in _reason_patterns():
        m = pattern.match(english)
        if m is None:
            continue
        values = m.groupdict()
        for k in ("kind", "kind2"):
            if k in values:
                values[k] = str(t(f"image_kind.{KINDS[values[k]]}"))
        if "materials" in values:
            read = _materials_text(t, values["materials"])
            if read is None:
                continue
            values["materials"] = read
        return str(t(key, **values))
    return english


# -- helpers --------------------------------------------------------------------------------------------------
def _service(request: Request) -> Any:
    """The platform's images service (404 while a deployment runs without it)."""
    svc = getattr(platform_of(request), "images", None)
    if svc is None:
        raise NotFound("image review is not set up in this deployment")
    return svc


def _age(at: datetime | None, now: datetime) -> tuple[str, int]:
    """How long ago ``at`` was, as a unit (``min``, ``h``, ``d``) and a whole number of them."""
    if at is None:
        return "min", 0
    if at.tzinfo is not None:
        at = at.astimezone(UTC).replace(tzinfo=None)
    seconds = max(0.0, (now - at).total_seconds())
    if seconds < 3600:
        return "min", int(seconds // 60)
    if seconds < 86400:
        return "h", int(seconds // 3600)
    return "d", int(seconds // 86400)


def open_jobs(request: Request) -> int | None:
    """Open image review jobs for the nav's badge, up to ``BADGE_CAP``; None for a user who does not see the
    queue (the nav then has no link)."""
    who = signed_in(request) if "session" in request.scope else None
    if who is None or who.role not in READERS:
        return None
    svc = getattr(platform_of(request), "images", None)
    if svc is None:
        return None
    if hasattr(svc, "queue_count"):
        return int(svc.queue_count(who))
    return len(svc.queue(who, limit=BADGE_CAP, offset=0))


def _queue_filters(svc: Any) -> set[str]:
    """The queue filters the images service takes (office always; fit and score when it offers them)."""
    return set(inspect.signature(svc.queue).parameters) & {"office", "consistent", "min_score"}


templates.env.globals["open_image_jobs"] = open_jobs  # base.html's nav: "Image review (3)"


def _verdict(image: ImageOut) -> str:
    """Where an image stands in one word: the latest officer verdict, else its routing."""
    if image.reviews:
        return image.reviews[-1].verdict
    return image.status


@dataclass
class QueueFilters:
    """The queue's filters as read from the URL (a wrong value is dropped and named)."""

    office: str = ""
    consistent: str = ""  # "", "yes", "no"
    min_score: str = ""
    size: int = QUEUE_PAGE
    page: int = 1

    def service_args(self) -> dict[str, Any]:
        """The filters the service takes."""
        out: dict[str, Any] = {"office": self.office or None}
        if self.consistent:
            out["consistent"] = self.consistent == "yes"
        if self.min_score:
            out["min_score"] = float(self.min_score)
        return out

    def url(self, **changes: Any) -> str:
        """The queue's link with these filters and ``changes``."""
        from urllib.parse import urlencode

        params = {"office": self.office, "consistent": self.consistent, "min_score": self.min_score,
                  "size": str(self.size) if self.size != QUEUE_PAGE else "", "page": str(self.page)}
        params |= {k: str(v) for k, v in changes.items()}
        kept = {k: v for k, v in params.items() if v and not (k == "page" and v == "1")}
        return "/images/queue" + ("?" + urlencode(kept) if kept else "")


def _filters(request: Request, t: Any) -> tuple[QueueFilters, dict[str, list[str]]]:
    q = request.query_params
    f, errors = QueueFilters(), {}
    office = q.get("office", "").strip()
    if office:
        if len(office) == 4 and office.isdigit():
            f.office = office
        else:
            errors["office"] = [t("images.err.office")]
    consistent = q.get("consistent", "")
    if consistent in ("yes", "no"):
        f.consistent = consistent
    elif consistent:
        errors["consistent"] = [t("images.err.consistent")]
    score = q.get("min_score", "").strip()
    if score:
        try:
            value = float(score)
        except ValueError:
            value = -1.0
        if 0.0 <= value <= 1.0:
            f.min_score = score
        else:
            errors["min_score"] = [t("images.err.min_score")]
    size = form_int(q.get("size"))
    f.size = size if size in PAGE_SIZES else QUEUE_PAGE
    page = form_int(q.get("page"))
    f.page = page if page and page <= 10_000 else 1
    return f, errors


# -- the queue --------------------------------------------------------------------------------------------------
@router.get("/images/queue")
def image_queue(request: Request) -> Response:
    """Scans waiting for an officer, oldest first, filtered by office (and fit and score where the service takes
    them), a page at a time; a wrong filter is named beside its field (422) and left out."""
    who = login(request, *READERS)
    svc = _service(request)
    t = translator(language_of(request))
    f, errors = _filters(request, t)
    args = f.service_args()
    supported = _queue_filters(svc)
    args = {k: v for k, v in args.items() if k in supported}
    rows = svc.queue(who, limit=f.size + 1, offset=(f.page - 1) * f.size, **args)
    more = len(rows) > f.size
    rows = rows[:f.size]
    total = svc.queue_count(who, **args) if hasattr(svc, "queue_count") else None
    if total is None and f.page == 1 and not more:
        total = len(rows)
    now = utcnow()
    jobs = [{"job": j, "age": _age(j.queued_at, now), "reasons": [reason_text(t, r) for r in j.reasons]}
            for j in rows]
    offices = sorted(platform_of(request).codes.customs_offices)
    return render(request, "image_queue.html", status_code=422 if errors else 200, jobs=jobs, f=f, errors=errors,
                  total=total, more=more, page_sizes=PAGE_SIZES, offices=offices,
                  filtered=supported, can_tip=who.role in TIP_READERS)


# -- one image --------------------------------------------------------------------------------------------------
def _goods(request: Request, subject: Any) -> list[dict]:
    codes = platform_of(request).codes
    return [{"g": g, "hs_name": codes.hs_description(g.hs_code) if g.hs_code else None} for g in subject.goods]


def _review_page(request: Request, image_id: int, status_code: int = 200, errors: dict | None = None,
                 sent: dict | None = None) -> Response:
    who = login(request, *READERS)
    svc = _service(request)
    t = translator(language_of(request))
    image: ImageOut = svc.get(who, image_id)
    subject = svc.subject(who, image_id)
    previous = [{"img": p, "verdict": _verdict(p)} for p in svc.previous(who, image_id, limit=PREVIOUS)]
    a = image.assessment
    call = "threat" if a is not None and a.routed == "review" else "clear"
    choices = list(CHOICES[call]) if who.role is Role.OFFICER and image.status in OPEN else []
    sent = sent or {}
    rows = list(sent.get("marks", [])) or [{}]  # what was entered, else one empty row to type a region into
    last_marks = image.reviews[-1].marks if image.reviews else []
    return render(request, "image_review.html", status_code=status_code, image=image, a=a, call=call,
                  mark_rows=rows, max_marks=MAX_MARKS, threat_categories=THREAT_CATEGORIES, last_marks=last_marks,
                  reasons=[reason_text(t, r) for r in (a.reasons if a else [])], subject=subject,
                  goods=_goods(request, subject), previous=previous, choices=choices, threats=THREAT_DECISIONS,
                  offence_types=OFFENCE_TYPES, errors=errors or {}, sent=sent, reason_max=REASON_MAX,
                  verdict=_verdict(image))


@router.get("/images/{image_id}")
def review_page(image_id: ImageId, request: Request) -> Response:
    """A scan beside the declared goods: zoom, contrast, the heat map, the machine's reasons, earlier scans of
    the same importer and goods, and (for officers, while it waits) the decision form."""
    return _review_page(request, image_id)


@router.post("/images/{image_id}/decision")
async def review_decision(image_id: ImageId, request: Request) -> Response:
    """An officer's decision on a scan: threat found or clear, the reason (required) and, for a threat, a
    confirmation. A refused form comes back as it was sent, with its errors (422)."""
    who = login(request, Role.OFFICER)
    form = await checked_form(request)
    t = translator(language_of(request))
    sent: dict[str, Any] = {k: str(form.get(k, "")).strip() for k in ("decision", "reason", "offence_type")}
    sent["confirm"] = form.get("confirm") == "on"
    errors: dict[str, list[str]] = {}
    body = None
    if not sent["reason"]:  # the page asks a reason for every decision (the API only for threats and overrides)
        errors["reason"] = [t("images.reason_missing")]
    sent["marks"], marks, mark_errors = read_marks(form, t)
    if mark_errors:
        errors["marks"] = mark_errors
    try:
        body = ReviewIn.model_validate({"decision": sent["decision"], "reason": sent["reason"],
                                        "offence_type": sent["offence_type"] or None, "marks": marks})
    except ValidationError as exc:
        errors = _marks_together(by_field(field_errors(exc))) | errors
    if sent["decision"] in THREAT_DECISIONS and not sent["confirm"]:
        errors["confirm"] = [t("images.confirm_missing")]
    svc = _service(request)
    if svc.get(who, image_id).status not in OPEN:  # a stale form: another decision came first
        flash(request, "images.decided_already", "error", id=image_id)
        return RedirectResponse(f"/images/{image_id}#reviews", status_code=303)
    if errors or body is None:
        return _review_page(request, image_id, 422, errors, sent)
    try:
        result = await run_in_threadpool(svc.review, who, image_id, body)
    except ValidationProblem as exc:
        return _review_page(request, image_id, 422, _marks_together(by_field(exc.errors)), sent)
    except Conflict as exc:
        flash(request, "images.refused", "error", detail=exc.detail)
        return RedirectResponse(f"/images/{image_id}", status_code=303)
    flash(request, "images.decided", id=image_id, decision=t(f"image_decision.{result.decision}"))
    if result.tip_feedback is not None:  # a projected test threat: told after the decision, never before
        where = result.tip_region
        flash(request, f"images.tip_{result.tip_feedback}", "ok" if result.tip_feedback == "hit" else "error",
              **({} if where is None else {"x": where.left, "y": where.top, "w": where.width, "h": where.height}))
    return RedirectResponse(f"/images/{image_id}#reviews", status_code=303)


MARK_FIELDS = (("mark_x", "left"), ("mark_y", "top"), ("mark_w", "width"), ("mark_h", "height"))


def read_marks(form: Any, t: Any) -> tuple[list[dict[str, str]], list[dict[str, Any]], list[str]]:
    """The threat regions of the decision form (rows of ``mark_category``, ``mark_x``, ``mark_y``, ``mark_w``,
    ``mark_h``): the rows as entered (to show again), the marks for ``ReviewIn`` and the errors, each naming its
    row. A row left empty is skipped."""
    columns = {name: [str(v).strip() for v in form.getlist(name)] for name in ("mark_category", *dict(MARK_FIELDS))}
    count = max(len(v) for v in columns.values())
    rows = [{name: (values[i] if i < len(values) else "") for name, values in columns.items()} for i in range(count)]
    rows = [r for r in rows if any(r.values())][:MAX_MARKS + 1]
    marks, errors = [], []
    if len(rows) > MAX_MARKS:
        errors.append(t("images.err.marks_too_many", n=MAX_MARKS))
    for n, row in enumerate(rows[:MAX_MARKS], start=1):
        mark: dict[str, Any] = {"category": row["mark_category"]}
        if row["mark_category"] not in THREAT_CATEGORIES:
            errors.append(t("images.err.mark_category", n=n))
        for name, key in MARK_FIELDS:
            mark[key] = form_int(row[name])
        if any(mark[key] is None for _, key in MARK_FIELDS) or mark["width"] < 1 or mark["height"] < 1:
            errors.append(t("images.err.mark_numbers", n=n))
        marks.append(mark)
    return rows, ([] if errors else marks), errors


def _marks_together(errors: dict[str, list[str]]) -> dict[str, list[str]]:
    """Errors on ``marks[i]...`` shown together beside the regions, numbered from 1 as on the page."""
    out: dict[str, list[str]] = {}
    for key, messages in errors.items():
        if key == "marks" or key.startswith("marks["):
            index = re.match(r"marks\[(\d+)\]", key)
            prefix = f"{int(index.group(1)) + 1}: " if index else ""
            out.setdefault("marks", []).extend(prefix + m for m in messages)
        else:
            out[key] = messages
    return out


# -- TIP quality --------------------------------------------------------------------------------------------------
@router.get("/images/tip/officers")
def tip_quality(request: Request) -> Response:
    """Each officer's detection rate on projected test threats (threat image projection), for analysts."""
    who = login(request, *TIP_READERS)
    svc = _service(request)
    rows = sorted(svc.tip_officers(who), key=lambda r: (r.detection_rate is None, -(r.detection_rate or 0),
                                                         r.officer))
    settings = platform_of(request).settings
    return render(request, "image_tip.html", rows=rows, share=getattr(settings, "images_tip_share", None),
                  totals=_totals(rows))


def _totals(rows: Iterable[Any]) -> dict[str, Any]:
    keys = ("tip_jobs", "hits", "false_locations", "misses", "clean_reviewed", "false_alarms")
    out: dict[str, Any] = {k: 0 for k in keys}
    for r in rows:
        for k in keys:
            out[k] += getattr(r, k)
    out["detection_rate"] = out["hits"] / out["tip_jobs"] if out["tip_jobs"] else None
    out["false_alarm_rate"] = out["false_alarms"] / out["clean_reviewed"] if out["clean_reviewed"] else None
    return out
