"""The domain's English sentences in the reader's language: field errors, error details, event and risk reasons.

The domains speak customs English (the API keeps it, RFC 9457). The pages read each sentence back into the
reader's language through a catalogue of its templates: ``"unknown trade mode {code}"`` is the message key
``msg.unknown_trade_mode``, whose Chinese text ``"未知的监管方式 {code}"`` the page shows. A placeholder is
matched lazily; those named in :data:`_NESTED` are sentence parts read through the catalogue again (a goods
label inside a risk reason), ``lane``/``mechanism``/``decision`` placeholders are read as those words.
Pydantic's messages are matched the same way, with the field's label (``"请填写商品编码"``).

A sentence the catalogue does not know is shown as it is; ``tests/web/test_messages.py`` feeds every sentence
the risk model's reasons can produce through it, so a new sentence without a translation fails a test.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache, lru_cache

from smartcustoms.core.errors import FieldError
from smartcustoms.web.i18n import DEFAULT_LANGUAGE, translator
from smartcustoms.web.rule_fields import describe

_PLACEHOLDER = re.compile(r"\{(\w+)\}")

#: (key, English template), in matching order (more specific first). The English text of each key is its
#: template; the Chinese text is in the zh catalogue under the same key.
FIELD_MESSAGES: tuple[tuple[str, str], ...] = (
    # Pydantic (pydantic-core's message templates)
    ("msg.v.missing", "Field required"),
    ("msg.v.pattern", "String should match pattern '{pattern}'"),
    ("msg.v.gt", "Input should be greater than {n}"),
    ("msg.v.ge", "Input should be greater than or equal to {n}"),
    ("msg.v.lt", "Input should be less than {n}"),
    ("msg.v.le", "Input should be less than or equal to {n}"),
    ("msg.v.decimal", "Input should be a valid decimal"),
    ("msg.v.decimal", "Input should be a valid number, unable to parse string as a number"),
    ("msg.v.decimal", "Input should be a valid number"),
    ("msg.v.decimal", "Decimal input should be an integer, float, string or Decimal object"),
    ("msg.v.finite", "Input should be a finite number"),
    ("msg.v.int", "Input should be a valid integer, unable to parse string as an integer"),
    ("msg.v.int", "Input should be a valid integer, got a number with a fractional part"),
    ("msg.v.int", "Input should be a valid integer"),
    ("msg.v.places", "Decimal input should have no more than {n} decimal place{s}"),
    ("msg.v.digits", "Decimal input should have no more than {n} digit{s} in total"),
    ("msg.v.whole_digits", "Decimal input should have no more than {n} digit{s} before the decimal point"),
    ("msg.v.too_long", "String should have at most {n} character{s}"),
    ("msg.v.too_short", "String should have at least {n} character{s}"),
    ("msg.v.list_short", "List should have at least {n} item{s} after validation, not {m}"),
    ("msg.v.list_long", "List should have at most {n} item{s} after validation, not {m}"),
    ("msg.v.datetime", "Input should be a valid datetime or date, {error}"),
    ("msg.v.datetime", "Input should be a valid datetime, {error}"),
    ("msg.v.datetime", "Input should be a valid date or datetime, {error}"),
    ("msg.v.datetime", "Input should be a valid datetime"),
    ("msg.v.date", "Input should be a valid date, {error}"),
    ("msg.v.date", "Input should be a valid date"),
    ("msg.v.string", "Input should be a valid string"),
    ("msg.v.bool", "Input should be a valid boolean, unable to interpret input"),
    ("msg.v.bool", "Input should be a valid boolean"),
    ("msg.v.extra", "Extra inputs are not permitted"),
    ("msg.v.ascii", "String should contain only ASCII characters"),
    ("msg.v.choice", "Input should be {expected}"),
    ("msg.v.required", "required"),
    # declarations: code lists, sums, dates, parties
    ("msg.unknown_trade_mode", "unknown trade mode {code}"),
    ("msg.unknown_transport_mode", "unknown transport mode {code}"),
    ("msg.unknown_office", "unknown customs office {code}"),
    ("msg.unknown_country", "unknown country {code}"),
    ("msg.unknown_currency", "unknown currency {code}"),
    ("msg.unknown_incoterm", "unknown incoterm {code}"),
    ("msg.unknown_unit", "unknown unit {code}"),
    ("msg.bad_hs", "{code} is not a valid HS 2022 subheading"),
    ("msg.future", "is in the future"),
    ("msg.too_old", "is more than two years ago"),
    ("msg.gross_below_net", "is less than the net mass"),
    ("msg.item_total", "{total} is not quantity × unit price ({expected})"),
    ("msg.sum_total", "{total} is not the sum of the items' totals ({expected})"),
    ("msg.sum_net", "{total} is not the sum of the items' net mass ({expected})"),
    ("msg.act_for", "you act for {code}: lodge as its declarant or importer"),
    ("msg.reused_id", "{key} was already used for a different declaration body"),
    ("msg.importer_unregistered", "importer {code} is not a registered enterprise"),
    ("msg.declarant_unregistered", "declarant {code} is not a registered enterprise"),
    ("msg.parties_own", "the parties are the lodging enterprise's to change"),
    # officers' decisions and inspection results (declarations/lifecycle.py, inspection/schemas.py)
    ("msg.d.choose_reason", "choose a reason"),
    ("msg.d.choose_role", "choose a role"),
    ("msg.d.other_reason", "describe the reason when it is 'other'"),
    ("msg.d.not_a_reason", "{code} is not a reason for {decision}: one of {codes}"),
    ("msg.d.code_needs_decision", "a reason code needs a decision"),
    ("msg.d.give_decision", "give a decision (or a to_status)"),
    ("msg.d.give_reason", "give a reason"),
    ("msg.d.offence_type", "an offence needs an offence_type"),
    ("msg.d.no_offence_empty", "no offence: leave offence_type, critical and duty_recovered empty"),
    # the rule editor (risk/targeting/rules.py)
    ("msg.k.unknown_field", "unknown field {field}; use a declaration field or a feature"),
    ("msg.k.op_number", "{op} does not apply to number field {field}; use one of {ops}"),
    ("msg.k.op_text", "{op} does not apply to text field {field}; use one of {ops}"),
    ("msg.k.needs_list", "{op} needs a non-empty list"),
    ("msg.k.element_number", "every element must be a number"),
    ("msg.k.element_string", "every element must be a string"),
    ("msg.k.between", "between needs [low, high] numbers"),
    ("msg.k.low_high", "low is above high"),
    ("msg.k.needs_number", "{op} on {field} needs a number"),
    ("msg.k.needs_string", "{op} on {field} needs a string"),
    # users, enterprises and mandates (enterprises/service.py, web/pages/admin.py)
    ("msg.u.taken", "already taken"),
    ("msg.u.registered", "already registered"),
    ("msg.u.trader_needs_enterprise", "required for role trader"),
    ("msg.u.not_registered", "not a registered enterprise"),
    ("msg.u.before_from", "is before valid_from"),
    ("msg.u.is_you", "is you"),
    ("msg.u.own_role", "is your own"),
    # bulk files (declarations/ingest.py)
    ("msg.f.missing_column", "missing column"),
    ("msg.f.unknown_column", "unknown column: see the column reference"),
    ("msg.f.no_message_id", "missing: each row names its message"),
    ("msg.f.bad_json", "malformed JSON: {error} at column {n}"),
    ("msg.f.not_object", "a line holds one declaration: a JSON object"),
    ("msg.f.row_differs", "{given} differs from {first} on line {n}, the declaration's first row"),
)

DETAIL_MESSAGES: tuple[tuple[str, str], ...] = (
    ("msg.e.role", "your role does not open this page"),
    ("msg.e.form_expired", "the form has expired; reload the page and try again"),
    ("msg.e.not_found", "Not Found"),
    ("msg.e.method", "Method Not Allowed"),
    ("msg.e.no_declaration", "no declaration {no}"),
    ("msg.e.no_upload", "no upload {no}"),
    ("msg.e.not_visible", "declaration {no} is not visible to you"),
    ("msg.e.incomplete_reason", "the decision's reason is not complete"),
    ("msg.e.decision_status", "the decision and the status disagree"),
    ("msg.e.unregistered", "unregistered party"),
    ("msg.e.no_rule", "no rule {no}"),
    ("msg.e.no_user", "no user {no}"),
    ("msg.e.no_action", "no action {no}"),
    ("msg.e.no_file", "no file {no}"),
    ("msg.e.no_language", "no language {no}"),
    ("msg.e.no_parcel", "no CBEC parcel for platform {platform} order {no}"),
    ("msg.e.cannot_become", "declaration {no} is {status}; it cannot become {to}"),
    ("msg.e.no_cancel", "declaration {no} is {status}; it can no longer be cancelled"),
    ("msg.e.no_amend", "declaration {no} is {status}; it can no longer be amended"),
    ("msg.e.nothing_to_inspect", "declaration {no} is {status}: there is nothing to inspect"),
    ("msg.e.has_result", "declaration {no} already has an inspection result"),
    ("msg.e.changed", "declaration {no} changed meanwhile; try again"),
    ("msg.e.officers_decide", "only customs officers decide on declarations"),
    ("msg.e.officers_record", "only customs officers record inspection results"),
    ("msg.e.customs_no_lodge", "customs officers, analysts and administrators do not lodge declarations: the "
                               "declarant or the importer does"),
)

EVENT_MESSAGES: tuple[tuple[str, str], ...] = (
    ("msg.ev.lodged", "lodged"),
    ("msg.ev.validated", "validated"),
    ("msg.ev.assessed", "tax assessed: {amount} CNY"),
    ("msg.ev.lane", "{lane} lane ({mechanism})"),
    ("msg.ev.green_released", "green lane: released without inspection"),
    ("msg.ev.amended", "amended to version {n}"),
    ("msg.ev.tax_failed", "tax cannot be assessed: {error}"),
    ("msg.ev.released", "released"),
    ("msg.ev.documents_requested", "documents requested"),
    ("msg.ev.scan", "non-intrusive scan"),
    ("msg.ev.physical", "physical inspection"),
    ("msg.ev.selected", "selected"),
    ("msg.ev.trader_lane", "{lane} lane: {words}"),
    ("msg.ev.decision", "{decision}"),
)

RISK_MESSAGES: tuple[tuple[str, str], ...] = (
    # selectivity (risk/targeting/selectivity.py, policy.py, parcels/selectivity.py)
    ("msg.r.top", "risk score {score}, in the top {share} at office {office}"),
    ("msg.r.exploration", "chosen at random for control: exploration keeps the model learning where it does not look"),
    ("msg.r.exploration_parcel", "chosen at random for control: random checks measure what the risk rules miss"),
    ("msg.r.below_grade_high", "risk score {score} {relation} office {office}'s current selection threshold "
                               "{threshold} (the office holds its top {share} of scores, {grade_share} at this "
                               "importer's credit grade; recent scores are high)"),
    ("msg.r.below_grade", "risk score {score} {relation} office {office}'s current selection threshold {threshold} "
                          "(the office holds its top {share} of scores, {grade_share} at this importer's credit "
                          "grade)"),
    ("msg.r.below_high", "risk score {score} {relation} office {office}'s current selection threshold {threshold} "
                         "(the office holds its top {share} of scores; recent scores are high)"),
    ("msg.r.below", "risk score {score} {relation} office {office}'s current selection threshold {threshold} "
                    "(the office holds its top {share} of scores)"),
    ("msg.r.no_model", "no live model yet: released unless a rule or random control selects it"),
    ("msg.r.aeo", "advanced-certified enterprise (AEO): reduced inspection rate"),
    ("msg.r.discredited", "discredited enterprise: increased inspection rate"),
    ("msg.r.mandatory_rule_lane", "mandatory hold, rule '{name}' ({check}): {description}"),
    ("msg.r.mandatory_rule_lane_bare", "mandatory hold, rule '{name}' ({check})"),
    ("msg.r.rule_lane", "rule '{name}' ({check}): {description}"),
    ("msg.r.rule_lane_bare", "rule '{name}' ({check})"),
    ("msg.r.mandatory_rule", "mandatory hold, rule '{name}': {description}"),
    ("msg.r.mandatory_rule_bare", "mandatory hold, rule '{name}'"),
    ("msg.r.rule", "rule '{name}': {description}"),
    ("msg.r.rule_bare", "rule '{name}'"),
    ("msg.r.parcel_top", "{what} {score}, in the top {share} at customs office {office}"),
    ("msg.r.parcel_few", "{what} {score} (too few parcels yet at customs office {office} to rank it)"),
    ("msg.r.parcel_below_why", "{what} {score} below the selection threshold at customs office {office} ({why})"),
    ("msg.r.parcel_below", "{what} {score} below the selection threshold at customs office {office}"),
    # parcel indicators (risk/parcels/scoring.py)
    ("msg.r.p.address", "{n} different buyers at one delivery address (split orders?)"),
    ("msg.r.p.phone", "{n} different buyers with one telephone number"),
    ("msg.r.p.buyer_year", "buyer's {n}th parcel this year"),
    ("msg.r.p.limit", "value {share} of the 5,000 CNY limit (just under)"),
    ("msg.r.p.price", "unit price {share} of the median for its HS subheading"),
    ("msg.r.p.platform", "platform rejection rate {share}"),
    ("msg.r.p.logistics", "logistics firm rejection rate {share}"),
    ("msg.r.p.enterprise", "offences found in {share} of this e-commerce enterprise's inspected parcels"),
    # the offence model's reasons (risk/offence_model.py: describe)
    ("msg.r.no_history", "no earlier {family} history to compare the value with"),
    ("msg.r.duty_rate", "duty rate {rate}%"),
    ("msg.r.duty_at_stake", "duty at stake {value}"),
    ("msg.r.declared_value", "declared value {value}"),
    ("msg.r.net_mass", "net mass {value} kg"),
    ("msg.r.unit_value", "unit value {value} per kg"),
    ("msg.r.from_origin", "shipped from the country of origin"),
    ("msg.r.via_third", "shipped via a third country"),
    ("msg.r.overall_rate", "overall offence rate {share}"),
    ("msg.r.uv_dev", "unit value {n}% {where} the {goods} median"),
    ("msg.r.v_dev", "value {n}% {where} the usual for {goods}"),
    ("msg.r.party_rate_n", "{party}'s past {kind} rate {share} ({n} inspections)"),
    ("msg.r.party_rate", "{party}'s past {kind} rate {share}"),
    ("msg.r.goods_rate_n", "{goods}: past {kind} rate {share} ({n} inspections)"),
    ("msg.r.goods_rate", "{goods}: past {kind} rate {share}"),
    ("msg.r.first_hs", "first declaration of HS {hs} by this importer"),
    ("msg.r.known_hs", "importer declared HS {hs} before"),
    ("msg.r.first_origin", "first import from {origin} by this importer"),
    ("msg.r.known_origin", "importer imported from {origin} before"),
    ("msg.r.first_declarant", "first declaration by this declarant for this importer"),
    ("msg.r.known_declarant", "known declarant for importer"),
    ("msg.r.first_seller", "first purchase from this seller by this importer"),
    ("msg.r.known_seller", "known seller for this importer"),
    ("msg.r.no_earlier", "no earlier declarations for {goods}"),
    ("msg.r.earlier", "{n} earlier declarations for {goods}"),
    ("msg.r.burst", "about {n} declarations for {goods} in the last {days} days"),
    ("msg.r.z_party", "{what} {z} standard deviations {where} this {party}'s usual"),
    ("msg.r.z_goods", "{what} {z} standard deviations {where} the {goods} usual"),
    ("msg.r.first_seen", "{goods} first seen {n} days ago"),
    ("msg.r.hs_diversity", "{party} has declared {n} different HS codes"),
    ("msg.r.inspections", "{n} earlier inspections of {goods}"),
    ("msg.r.offences_by", "{n} earlier offences by {goods}"),
    ("msg.r.offences_on", "{n} earlier offences on {goods}"),
    ("msg.r.cat.office", "customs office {code}"),
    ("msg.r.cat.trade_mode", "trade mode {code}"),
    ("msg.r.cat.transport_mode", "mode of transport {code}"),
    ("msg.r.cat.process_type", "process type {code}"),
    ("msg.r.cat.import_type", "import type {code}"),
    ("msg.r.cat.import_use", "import use {code}"),
    ("msg.r.cat.payment_type", "payment type {code}"),
    ("msg.r.cat.origin_indicator", "origin indicator {code}"),
    ("msg.r.cat.tax_type", "tariff type {code}"),
    ("msg.r.cat.departure", "departure country {code}"),
    ("msg.r.cat.hs2", "HS chapter {code}"),
    ("msg.r.cat.origin", "origin {code}"),
    ("msg.r.hs", "HS {hs}"),
)

#: sentence parts a placeholder may hold (read through the catalogue again)
PART_MESSAGES: tuple[tuple[str, str], ...] = (
    ("msg.g.importer", "importer"),
    ("msg.g.declarant", "declarant"),
    ("msg.g.seller", "seller"),
    ("msg.g.courier", "courier"),
    ("msg.g.this_importer", "this importer"),
    ("msg.g.this_declarant", "this declarant"),
    ("msg.g.this_seller", "this seller"),
    ("msg.g.this_courier", "this courier"),
    ("msg.g.hs_chapter", "HS chapter {hs}"),
    ("msg.g.hs_origin_tax", "HS {hs} / {origin} under this tariff type"),
    ("msg.g.hs_origin", "HS {hs} / {origin}"),
    ("msg.g.hs_departure", "HS {hs} shipped from this departure country"),
    ("msg.g.hs", "HS {hs}"),
    ("msg.g.from_origin", "goods from {origin}"),
    ("msg.g.departure", "goods shipped from this departure country"),
    ("msg.g.route", "the route to {origin} via this departure country"),
    ("msg.g.office", "this customs office"),
    ("msg.g.tax_type", "this tariff type"),
    ("msg.g.importer_hs", "this importer's HS {hs} declarations"),
    ("msg.g.importer_origin", "this importer's imports from {origin}"),
    ("msg.g.declarant_importer", "this declarant's declarations for this importer"),
    ("msg.g.seller_importer", "this seller's sales to this importer"),
    ("msg.g.same_value_mass", "earlier HS {hs} declarations at exactly this value and net mass"),
    ("msg.g.same_value", "earlier HS {hs} declarations at exactly this value"),
    ("msg.g.same_mass", "earlier HS {hs} declarations of exactly this net mass"),
    ("msg.g.value", "earlier declarations at exactly this value"),
    ("msg.g.below", "below"),
    ("msg.g.above", "above"),
    ("msg.g.is_below", "is below"),
    ("msg.g.is_not_above", "is not above"),
    ("msg.g.offence", "offence"),
    ("msg.g.critical", "critical-offence"),
    ("msg.g.value_word", "value"),
    ("msg.g.unit_value_word", "unit value"),
    ("msg.g.check.yellow", "document check"),
    ("msg.g.check.blue", "scan"),
    ("msg.g.check.red", "physical inspection"),
    ("msg.g.parcel_model", "offence probability (parcel model v{n})"),
    ("msg.g.risk_score", "risk score"),
)

#: placeholders read through the catalogue again (their text is a sentence part)
_NESTED = frozenset({"goods", "party", "where", "relation", "kind", "what", "check", "why"})
#: placeholders that must look like a number or a code (keeps lazy matching honest)
_NUMERIC = frozenset({"n", "m", "score", "threshold", "z", "days", "rate", "value", "amount"})
_SHARE = frozenset({"share", "grade_share"})
#: placeholders that hold one code or number (no spaces)
_TOKEN = frozenset({"code", "hs", "origin", "office", "no", "key", "platform", "status", "to", "family"})
#: a model feature's value in the generic form ``"{feature name, spaced} {value}"`` (``describe``'s fallback)
_FEATURE_VALUE = re.compile(r"^(?P<name>[a-z][a-z0-9 ]*?) (?P<value>-?[\d.,]+(?:e[+-]?\d+)?|unknown)$")


@dataclass(frozen=True, slots=True)
class _Entry:
    key: str
    pattern: re.Pattern[str]


def _compile(template: str) -> re.Pattern[str]:
    out, pos = [], 0
    seen: set[str] = set()
    for m in _PLACEHOLDER.finditer(template):
        out.append(re.escape(template[pos:m.start()]))
        name = m.group(1)
        if name in seen:
            out.append(f"(?P={name})")
        elif name in _NUMERIC:
            out.append(rf"(?P<{name}>-?[\d,]+(?:\.\d+)?)")
        elif name in _SHARE:
            out.append(rf"(?P<{name}>-?[\d,]+(?:\.\d+)?%)")
        elif name in _TOKEN:
            out.append(rf"(?P<{name}>\S+)")
        elif name == "s":
            out.append(r"(?P<s>s?)")
        else:
            out.append(rf"(?P<{name}>.+?)")
        seen.add(name)
        pos = m.end()
    out.append(re.escape(template[pos:]))
    return re.compile("^" + "".join(out) + "$", re.DOTALL)


@cache
def _entries(group: str) -> tuple[_Entry, ...]:
    table = {"field": FIELD_MESSAGES, "detail": DETAIL_MESSAGES + FIELD_MESSAGES,
             "event": EVENT_MESSAGES + RISK_MESSAGES + FIELD_MESSAGES, "risk": RISK_MESSAGES + EVENT_MESSAGES,
             "part": PART_MESSAGES}[group]
    return tuple(_Entry(k, _compile(tpl)) for k, tpl in table)


def catalogue_keys() -> dict[str, str]:
    """Every message key with its English template (the en catalogue holds the same texts)."""
    out: dict[str, str] = {}
    for table in (FIELD_MESSAGES, DETAIL_MESSAGES, EVENT_MESSAGES, RISK_MESSAGES, PART_MESSAGES):
        for key, tpl in table:
            out.setdefault(key, tpl)
    return out


class Localiser:
    """Reads the domains' English sentences in ``lang``; English readers get them unchanged."""

    def __init__(self, lang: str) -> None:
        self.lang = lang
        self.t: Callable[..., str] = translator(lang)

    @property
    def english(self) -> bool:
        """Whether the reader reads English (the sentences are shown as they are)."""
        return self.lang == DEFAULT_LANGUAGE

    def _read(self, text: str, group: str, extra: dict[str, str] | None = None) -> str | None:
        for entry in _entries(group):
            m = entry.pattern.match(text)
            if m is None:
                continue
            values: dict[str, str] = {}
            for name, value in m.groupdict().items():
                if name in _NESTED:
                    part = self._read(value, "part") if name != "why" else self.risk_list(value.split("; "))
                    if part is None:
                        break
                    values[name] = part
                elif name == "lane":
                    values[name] = self.t(f"event.lane_from.{value}") if value in ("green", "yellow", "blue",
                                                                             "red") else value
                elif name == "family":
                    values[name] = self._read(value, "part") or value
                elif name in ("status", "to"):
                    key = f"status.{value}"
                    values[name] = self.t(key) if self.t(key) != key else value
                elif name == "mechanism":
                    values[name] = self.t(f"mechanism.{value}")
                elif name == "decision":
                    word = value.replace(" ", "_")
                    key = f"decision_done.{word}"
                    if self.t(key) == key:
                        break
                    values[name] = self.t(key)
                elif name in ("words",):
                    part = self._read(value, "event")
                    if part is None:
                        break
                    values[name] = part
                else:
                    values[name] = value
            else:
                return self.t(entry.key, **{"label": self.t("msg.label.field"), **values, **(extra or {})})
        return None

    def _feature_value(self, text: str) -> str | None:
        """``"day of week 3"`` (a feature without words of its own in the reasons): the feature's description
        from the rule editor's catalogue, and the value."""
        m = _FEATURE_VALUE.match(text)
        if m is None:
            return None
        name = m.group("name").replace(" ", "_")
        words = describe(name, self.t) or describe(f"global_{name}", self.t)
        if not words:
            return None
        value = self.t("msg.unknown") if m.group("value") == "unknown" else m.group("value")
        return self.t("msg.r.feature_value", feature=words, value=value)

    def risk_list(self, reasons: Iterable[str]) -> str | None:
        """Several reasons joined by the language's separator (None when one is not known)."""
        parts = [self._read(r, "risk") or self._feature_value(r) for r in reasons]
        return None if any(p is None for p in parts) else self.t("msg.sep").join(p for p in parts if p)

    def text(self, english: str, group: str = "event") -> str:
        """A sentence in the reader's language (as it is when English or not in the catalogue)."""
        if self.english or not english:
            return english
        return _read_cached(self.lang, english, group)

    def _text(self, english: str, group: str) -> str:
        text = english.strip()
        return self._read(text, group) or (self._feature_value(text) if group == "risk" else None) or english

    def reason(self, english: str) -> str:
        """A risk or event reason in the reader's language."""
        return self.text(english, "risk")

    def detail(self, english: str) -> str:
        """An error page's detail in the reader's language."""
        return self.text(english, "detail")

    def field_error(self, e: FieldError) -> FieldError:
        """A field error with its message in the reader's language and the field's label."""
        if self.english:
            return e
        label = self.t(field_label(e.field))
        read = self._read(e.message.removeprefix("Value error, "), "field", {"label": label})
        return FieldError(e.field, read or e.message)

    def field_errors(self, errors: Iterable[FieldError]) -> list[FieldError]:
        """:meth:`field_error` of each."""
        return [self.field_error(e) for e in errors]


@lru_cache(maxsize=20_000)
def _read_cached(lang: str, english: str, group: str) -> str:
    """:meth:`Localiser.text`, remembered: list pages repeat the same reasons row after row."""
    return Localiser(lang)._text(english, group)


_FIELD_LABELS = {
    "declarant_code": "decl.declarant", "importer_code": "decl.importer", "seller_name": "decl.seller",
    "trade_mode": "decl.trade_mode", "transport_mode": "decl.transport_mode", "office_code": "decl.office",
    "departure_country": "decl.departure_country", "origin_country": "decl.origin_country",
    "currency": "decl.currency", "incoterm": "decl.incoterm", "freight": "decl.freight",
    "insurance": "decl.insurance", "gross_mass_kg": "decl.gross_mass", "net_mass_kg": "decl.net_mass",
    "packages": "lodge.packages", "total_value": "decl.total_value", "declared_at": "decl.declared_at",
    "items": "lodge.items", "client_message_id": "msg.label.message_id",
}
_ITEM_LABELS = {
    "hs_code": "item.hs_code", "description": "item.description", "model_spec": "msg.label.model_spec",
    "quantity": "item.quantity", "unit": "item.unit", "net_mass_kg": "item.net_mass",
    "unit_price": "item.unit_price", "total_value": "item.total_value", "origin_country": "item.origin",
}


def field_label(path: str) -> str:
    """The message key of a field's label (``items[0].hs_code`` → ``item.hs_code``); ``msg.label.field``
    when the field has no label of its own."""
    name = path.rsplit(".", 1)[-1]
    if name.startswith("item_") and name.removeprefix("item_") in _ITEM_LABELS:  # a CSV file's item column
        return _ITEM_LABELS[name.removeprefix("item_")]
    if path.startswith("items[") and "." in path:
        return _ITEM_LABELS.get(name, "msg.label.field")
    return _FIELD_LABELS.get(name) or _ITEM_LABELS.get(name, "msg.label.field")  # a CSV column may be an item's
