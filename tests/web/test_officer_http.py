"""The officer's decision form over plain HTTP: who may post it, its token, what a refusal leaves behind."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from smartcustoms.audit.service import entries
from smartcustoms.declarations.lifecycle import Lane
from smartcustoms.declarations.schemas import DeclarationIn
from smartcustoms.declarations.service import LaneDecision
from tests.support import SYSTEM, declaration_payload
from tests.web.test_parcels import flashes, sign_in


class RedLane:
    def decide(self, session, batch):
        return [LaneDecision(Lane.RED, 0.9, ["test rule"], "rule") for _ in batch]


@pytest.fixture
def web(sqlite_world):
    """A test client of the app and one declaration held on the red lane."""
    from smartcustoms.web.app import create_app

    platform = sqlite_world.platform
    platform.set_selectivity(RedLane())
    res = platform.declarations.lodge_many(SYSTEM, [DeclarationIn.model_validate(declaration_payload())])[0]
    with TestClient(create_app(platform)) as c:
        yield c, sqlite_world, res.declaration_no


def audited(world, no: str) -> list[str]:
    with world.platform.sessions() as s:
        return [e.action for e in entries(s, "declaration", no)]


RELEASE = {"decision": "release", "reason_code": "documents_in_order", "reason": "", "confirm": "on"}


def test_only_an_officer_with_the_forms_token_decides(web):
    c, world, no = web
    token = sign_in(c, "trader")  # the importer: reads its declaration, without the forms
    page = c.get(f"/declarations/{no}")
    assert page.status_code == 200 and 'id="decisions"' not in page.text
    assert c.post(f"/declarations/{no}/decision", data={**RELEASE, "csrf": token}).status_code == 403
    token = sign_in(c, "analyst")  # customs, but analysts do not decide
    assert 'id="decisions"' not in c.get(f"/declarations/{no}").text
    assert c.post(f"/declarations/{no}/decision", data={**RELEASE, "csrf": token}).status_code == 403
    token = sign_in(c, "officer")
    assert 'id="decision-release"' in c.get(f"/declarations/{no}").text
    assert c.post(f"/declarations/{no}/decision", data=RELEASE).status_code == 403  # no token
    assert c.post(f"/declarations/{no}/decision", data={**RELEASE, "csrf": "forged"}).status_code == 403
    assert audited(world, no) == []
    r = c.post(f"/declarations/{no}/decision", data={**RELEASE, "csrf": token}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/declarations/{no}#events"
    assert audited(world, no) == ["declaration.released"]
    assert 'id="decisions"' not in c.get(f"/declarations/{no}").text  # released: nothing left to decide


def test_a_release_or_detention_needs_its_confirmation_and_a_refusal_keeps_the_form(web):
    c, world, no = web
    token = sign_in(c, "officer")
    sent = {**RELEASE, "reason": "contract and invoice checked", "csrf": token}
    del sent["confirm"]
    r = c.post(f"/declarations/{no}/decision", data=sent, follow_redirects=False)
    assert r.headers["location"] == f"/declarations/{no}#decision-release"
    page = c.get(f"/declarations/{no}").text
    assert flashes(page) == ["The decision was not recorded: see the marked fields."]
    form = page[page.index('id="decision-release"'):page.index("</form>", page.index('id="decision-release"'))]
    assert 'data-error-for="confirm">tick the box to confirm<' in form
    assert '<option value="documents_in_order" selected>' in form
    assert ">contract and invoice checked</textarea>" in form
    other = page[page.index('id="decision-scan"'):page.index("</form>", page.index('id="decision-scan"'))]
    assert "contract and invoice checked" not in other and " selected>" not in other  # only the form sent
    assert audited(world, no) == []
    # an unknown decision or a forged reason code is refused the same way, never a traceback
    for bad in ({"decision": "waive"}, {"reason_code": "no-such-reason"}):
        r = c.post(f"/declarations/{no}/decision", data={**RELEASE, **bad, "csrf": token}, follow_redirects=False)
        assert r.status_code == 303
        assert flashes(c.get(f"/declarations/{no}").text) == ["The decision was not recorded: see the marked fields."]
    assert audited(world, no) == []


def test_the_decision_forms_and_history_read_in_chinese(web):
    c, world, no = web
    token = sign_in(c, "officer")
    r = c.post(f"/declarations/{no}/decision", data={"decision": "request_documents", "reason_code": "contract",
                                                      "reason": "<script>alert(1)</script>", "csrf": token})
    assert r.status_code == 200
    page = c.get(f"/lang/zh?next=/declarations/{no}").text
    # the decision in the history and the outcome card; the note is text, never markup
    assert page.count("要求补充单证：贸易合同——&lt;script&gt;alert(1)&lt;/script&gt;") == 2
    assert "<script>alert" not in page
    assert "红色通道：人工查验" in page and "确认扣留该批货物" in page  # lane event; detention now offered



def test_every_decision_and_reason_has_words_in_both_languages_matching_the_services():
    from smartcustoms.declarations.lifecycle import DECISION_REASONS, Decision
    from smartcustoms.web.i18n import catalogue
    from smartcustoms.web.pages.officer import CONFIRMED

    en, zh = catalogue("en"), catalogue("zh")
    for d in Decision:
        assert {f"decision.{d}", f"decision_done.{d}"} <= set(en) & set(zh)
        for code, words in DECISION_REASONS[d].items():
            assert en[f"decision_reason.{code}"] == words  # the page and the API's event reason agree
            assert zh[f"decision_reason.{code}"] != words
    assert {f"decision_confirm.{d}" for d in CONFIRMED} <= set(en) & set(zh)
