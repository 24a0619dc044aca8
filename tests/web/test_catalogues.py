"""The message catalogues: both languages say everything the templates ask for."""

from __future__ import annotations

import re
from pathlib import Path

from smartcustoms.web.i18n import catalogue, translator

TEMPLATES = Path(__file__).resolve().parents[2] / "src" / "smartcustoms" / "web" / "templates"
PAGES = TEMPLATES.parent / "pages"  # one module per role


def test_english_and_chinese_catalogues_have_the_same_keys():
    assert set(catalogue("en")) == set(catalogue("zh"))


def test_every_literal_key_in_templates_and_routes_is_in_the_catalogue():
    used = set()
    for path in TEMPLATES.glob("*.html"):
        # a key ending in "." or "_" is a prefix joined to a value (t('models.status.' ~ v.status)): not a literal key
        keys = re.findall(r"\bt\('([a-z_]+\.[a-z_.]+|yes|no)'", path.read_text())
        used |= {k for k in keys if not k.endswith((".", "_"))}
    for path in PAGES.glob("*.py"):
        used |= set(re.findall(r'flash\(request, "([a-z_.]+)"', path.read_text()))
    assert len(used) > 50  # the pattern still finds the keys
    assert used - set(catalogue("en")) == set()


def test_placeholders_are_filled_and_chinese_differs_from_english():
    en, zh = translator("en"), translator("zh")
    assert en("lodge.done", no="224820261000000001") == "Declaration 224820261000000001 lodged."
    assert "224820261000000001" in zh("lodge.done", no="224820261000000001")
    assert zh("status.released") != en("status.released")
    assert en("no.such.key") == "no.such.key"


def test_every_status_lane_role_grade_and_offence_has_words():
    from smartcustoms.core.security import Role
    from smartcustoms.declarations.lifecycle import Lane, Status
    from smartcustoms.enterprises.schemas import CreditGrade, EnterpriseRole
    from smartcustoms.inspection.schemas import OFFENCE_TYPES

    keys = set(catalogue("en"))
    wanted = ({f"status.{s.value}" for s in Status} | {f"lane.{x.value}" for x in Lane}
              | {f"role.{r.value}" for r in Role} | {f"grade.{g.value}" for g in CreditGrade}
              | {f"erole.{r.value}" for r in EnterpriseRole} | {f"offence.{o}" for o in OFFENCE_TYPES}
              | {f"mechanism.{m}" for m in ("model", "rule", "exploration", "mandatory", "none")})
    assert wanted - keys == set()


def test_every_cbec_receipt_status_has_words_in_both_languages():
    from smartcustoms.cbec.ceb.statuses import STATUS_NAMES

    en, zh = catalogue("en"), catalogue("zh")
    assert {s: en[f"parcel_status.{s}"] for s in STATUS_NAMES} == STATUS_NAMES  # the English is the CBEC's own
    assert all(zh[f"parcel_status.{s}"] != name for s, name in STATUS_NAMES.items())
