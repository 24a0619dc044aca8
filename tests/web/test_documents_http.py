"""The documents card's forms and downloads over plain HTTP: the form's token, who may upload and download, the
download's headers, a refusal in the reader's language."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from smartcustoms.declarations.lifecycle import Lane
from smartcustoms.declarations.schemas import DeclarationIn
from smartcustoms.declarations.service import LaneDecision
from tests.declarations.test_documents import pdf_bytes
from tests.support import SYSTEM, declaration_payload
from tests.web.test_parcels import sign_in


class YellowLane:
    def decide(self, session, batch):
        return [LaneDecision(Lane.YELLOW, 0.5, ["test rule"], "rule") for _ in batch]


@pytest.fixture
def web(sqlite_world):
    """A test client of the app and one declaration held on the yellow lane (a document check)."""
    from smartcustoms.web.app import create_app

    platform = sqlite_world.platform
    platform.set_selectivity(YellowLane())
    res = platform.declarations.lodge_many(SYSTEM, [DeclarationIn.model_validate(declaration_payload())])[0]
    with TestClient(create_app(platform)) as c:
        yield c, sqlite_world, res.declaration_no


def upload(c, no: str, token: str | None, data: bytes, name: str = "invoice.pdf", kind: str = "invoice"):
    form = {"kind": kind} | ({"csrf": token} if token else {})
    return c.post(f"/declarations/{no}/documents", data=form, files={"file": (name, data, "application/pdf")},
                  follow_redirects=False)


def test_a_trader_uploads_with_the_forms_token_and_others_cannot_reach_the_file(web):
    c, world, no = web
    token = sign_in(c, "trader")
    page = c.get(f"/declarations/{no}").text
    assert 'data-testid="documents-asked"' in page and "Held for a document check" in page
    assert upload(c, no, None, pdf_bytes()).status_code == 403  # no token
    data = pdf_bytes()
    r = upload(c, no, token, data, name="发票.pdf")
    assert r.status_code == 303 and r.headers["location"] == f"/declarations/{no}#documents"
    (doc,) = world.platform.documents.list_documents(world.principals["trader"], no)
    url = f"/declarations/{no}/documents/{doc.id}"
    got = c.get(url)
    assert got.status_code == 200 and got.content == data
    assert got.headers["content-type"] == "application/pdf"
    assert got.headers["content-disposition"] == (
        "attachment; filename=\"__.pdf\"; filename*=UTF-8''%E5%8F%91%E7%A5%A8.pdf")
    assert got.headers["x-content-type-options"] == "nosniff"
    r = c.post(f"/declarations/{no}/documents/provided", data={"csrf": token, "note": ""}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/declarations/{no}#events"
    assert "Documents provided (1): Commercial invoice" in c.get(f"/declarations/{no}").text

    token = sign_in(c, "other")  # another enterprise: as if neither declaration nor document existed
    assert c.get(url).status_code == 404
    assert upload(c, no, token, pdf_bytes()).status_code == 404
    assert c.get(f"/declarations/{no}/documents/99999999999").status_code == 404
    token = sign_in(c, "officer")  # customs read, and do not upload
    assert c.get(url).status_code == 200
    assert upload(c, no, token, pdf_bytes()).status_code == 403
    assert 'id="document-upload"' not in c.get(f"/declarations/{no}").text


def test_a_refused_file_is_explained_beside_its_field_in_chinese(web):
    c, world, no = web
    token = sign_in(c, "trader")
    c.get("/lang/zh")
    r = upload(c, no, token, b"<html>not a pdf</html>", kind="packing_list")
    assert r.status_code == 303
    page = c.get(f"/declarations/{no}").text
    assert "文件不是 PDF、PNG、JPEG 或 TIFF 格式" in page
    assert '<option value="packing_list" selected>' in page  # the kind chosen stays
    assert world.platform.documents.list_documents(world.principals["trader"], no) == []
