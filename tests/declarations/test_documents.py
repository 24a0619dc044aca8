"""Documents attached to declarations, through the API (SQLite and PostgreSQL): checked by content, limited in
size and number, stored by hash, visible to the declaration's parties and to customs only, and the trader's
"documents provided" answer on the declaration's history."""

from __future__ import annotations

import hashlib
import io

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from smartcustoms.declarations.documents.content import (
    PDF,
    PNG,
    ContentRefused,
    check_content,
    content_disposition,
    safe_file_name,
)
from smartcustoms.declarations.documents.service import DocumentLimits, document_request
from smartcustoms.declarations.documents.storage import FileSystemStore, StoredContentMissing
from smartcustoms.declarations.lifecycle import Lane
from smartcustoms.declarations.service import LaneDecision
from tests.support import assert_problem, lodge
from tests.support import key_header as h


def pdf_bytes(pages: int = 1) -> bytes:
    """A real PDF of blank A4 pages, made with pypdf."""
    from pypdf import PdfWriter

    w = PdfWriter()
    for _ in range(pages):
        w.add_blank_page(595, 842)
    buf = io.BytesIO()
    w.write(buf)
    return buf.getvalue()


def png_bytes(size: tuple[int, int] = (40, 30)) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buf, format="PNG")
    return buf.getvalue()


class Held:
    """Holds every declaration on one lane, so the tests do not depend on the risk model."""

    def __init__(self, lane: Lane) -> None:
        self.lane = lane

    def decide(self, session, batch):
        return [LaneDecision(self.lane, 0.9, ["test rule"], "rule") for _ in batch]


def held(client, world, lane: Lane = Lane.RED) -> str:
    world.platform.set_selectivity(Held(lane))
    r = lodge(client, world)
    assert r.status_code == 201, r.text
    return r.json()["declaration_no"]


def attach(client, world, no: str, data: bytes, name: str = "invoice.pdf", kind: str = "invoice",
           user: str = "trader", content_type: str = "application/pdf"):
    return client.post(f"/api/v1/declarations/{no}/documents", headers=h(world, user),
                       files={"file": (name, data, content_type)}, data={"kind": kind})


def test_a_trader_attaches_a_pdf_and_downloads_it_as_an_attachment(client, world):
    no = held(client, world)
    data = pdf_bytes(2)
    r = attach(client, world, no, data, name="../../Invoice 2026-118.pdf")
    assert r.status_code == 201, r.text
    doc = r.json()
    assert doc["kind"] == "invoice" and doc["content_type"] == PDF and doc["size"] == len(data)
    assert doc["file_name"] == "Invoice 2026-118.pdf"  # no folders
    assert doc["sha256"] == hashlib.sha256(data).hexdigest() and doc["uploaded_by"] == "trader"
    assert r.headers["Location"] == doc["href"] == f"/api/v1/declarations/{no}/documents/{doc['id']}"
    stored = world.platform.settings.data_dir / "documents" / doc["sha256"][:2] / doc["sha256"]
    assert stored.read_bytes() == data and stored.stat().st_mode & 0o077 == 0  # by hash, owner only
    listed = client.get(f"/api/v1/declarations/{no}/documents", headers=h(world, "trader")).json()
    assert [d["id"] for d in listed] == [doc["id"]] and listed[0]["provided"] is False
    got = client.get(doc["href"], headers=h(world, "trader"))
    assert got.status_code == 200 and got.content == data
    assert got.headers["content-type"] == PDF
    assert got.headers["content-disposition"].startswith('attachment; filename="Invoice 2026-118.pdf"')
    assert got.headers["x-content-type-options"] == "nosniff"
    # the broker (declarant of the same declaration) and customs read it too
    for user in ("broker", "officer", "analyst"):
        assert client.get(doc["href"], headers=h(world, user)).content == data, user


def test_a_foreign_trader_gets_404_for_another_enterprises_documents(client, world):
    no = held(client, world)
    doc = attach(client, world, no, pdf_bytes()).json()
    for r in (client.get(f"/api/v1/declarations/{no}/documents", headers=h(world, "other")),
              client.get(doc["href"], headers=h(world, "other")),
              attach(client, world, no, pdf_bytes(), user="other"),
              client.post(f"/api/v1/declarations/{no}/documents/provided", json={}, headers=h(world, "other"))):
        assert_problem(r, 404)
    # a document of another declaration is not reachable through one's own
    mine = held(client, world)
    assert_problem(client.get(f"/api/v1/declarations/{mine}/documents/{doc['id']}", headers=h(world, "trader")), 404)
    assert_problem(client.get(f"/api/v1/declarations/{no}/documents/2147483647", headers=h(world, "officer")), 404)


def test_customs_read_documents_but_do_not_attach_them(client, world):
    no = held(client, world)
    assert attach(client, world, no, pdf_bytes()).status_code == 201
    assert len(client.get(f"/api/v1/declarations/{no}/documents", headers=h(world, "officer")).json()) == 1
    assert_problem(attach(client, world, no, pdf_bytes(), user="officer"), 403)


def test_a_file_disguised_as_a_pdf_is_refused_by_its_content(client, world):
    no = held(client, world)
    for data in (b"MZ\x90\x00 a Windows program", b"<html><script>alert(1)</script></html>",
                 b"%PDF-1.7\n1 0 obj << /Type /Catalog >>\n%%EOF\n"):  # the last: a PDF header, no PDF
        body = assert_problem(attach(client, world, no, data, name="invoice.pdf"), 422, "file")
        assert "PDF" in body["detail"]
    assert_problem(attach(client, world, no, b"", name="empty.pdf"), 422, "file")
    assert_problem(attach(client, world, no, pdf_bytes(), kind="passport"), 422, "kind")
    # a real PNG named .pdf is kept as what it is
    r = attach(client, world, no, png_bytes(), name="scan.pdf", kind="packing_list")
    assert r.status_code == 201 and r.json()["content_type"] == PNG and r.json()["file_name"] == "scan.png"
    assert len(client.get(f"/api/v1/declarations/{no}/documents", headers=h(world, "trader")).json()) == 1


def test_an_oversized_document_is_a_413_naming_the_file(client, world):
    no = held(client, world)
    docs = world.platform.documents
    docs.limits = DocumentLimits(max_bytes=20_000, max_count=2, max_total_bytes=1 << 20)
    big = pdf_bytes() + b"%" + b"x" * 30_000  # a valid PDF with a long comment after it
    body = assert_problem(attach(client, world, no, big), 413, "file")
    assert "20,000" in body["detail"]
    # the body limit in front of the app refuses a body far over the configured size at once
    huge = b"%PDF-" + b"0" * (world.platform.settings.max_document_bytes + (300 << 10))
    assert_problem(attach(client, world, no, huge), 413)
    assert client.get(f"/api/v1/declarations/{no}/documents", headers=h(world, "trader")).json() == []


def test_a_declaration_holds_a_limited_number_of_documents(client, world):
    no = held(client, world)
    world.platform.documents.limits = DocumentLimits(max_count=2)
    assert attach(client, world, no, pdf_bytes()).status_code == 201
    assert attach(client, world, no, pdf_bytes(), kind="packing_list").status_code == 201  # same bytes: kept once
    body = assert_problem(attach(client, world, no, png_bytes(), kind="other"), 409, "file")
    assert "2 documents" in body["detail"]
    world.platform.documents.limits = DocumentLimits(max_total_bytes=len(pdf_bytes()) * 2 + 10)
    assert_problem(attach(client, world, no, png_bytes((200, 200)), kind="other"), 409, "file")


def test_a_trader_answers_a_request_for_documents_on_the_history(client, world):
    no = held(client, world)
    r = client.post(f"/api/v1/declarations/{no}/decision", headers=h(world, "officer"),
                    json={"decision": "request_documents", "reason_code": "origin_certificate", "reason": "Form E"})
    assert r.status_code == 200, r.text
    provide = f"/api/v1/declarations/{no}/documents/provided"
    body = assert_problem(client.post(provide, json={}, headers=h(world, "trader")), 409, "documents")
    assert "attach" in body["detail"]
    a = attach(client, world, no, pdf_bytes(), name="form-e.pdf", kind="origin_certificate").json()
    b = attach(client, world, no, png_bytes(), name="invoice.png", kind="invoice").json()
    r = client.post(provide, json={"note": "Form E and the invoice"}, headers=h(world, "trader"))
    assert r.status_code == 201, r.text
    ev = r.json()
    assert ev["from_status"] == ev["to_status"] == "inspection" and ev["actor"] == "trader"
    assert ev["detail"] == {"documents_provided": 2, "documents": [a["id"], b["id"]],
                            "kinds": ["invoice", "origin_certificate"], "note": "Form E and the invoice"}
    seen = client.get(f"/api/v1/declarations/{no}/events", headers=h(world, "officer")).json()
    assert seen[-1]["seq"] == ev["seq"] and seen[-1]["reason"].startswith("documents provided: 2")
    assert client.get(f"/api/v1/declarations/{no}", headers=h(world, "officer")).json()["status"] == "inspection"
    docs = client.get(f"/api/v1/declarations/{no}/documents", headers=h(world, "officer")).json()
    assert [d["provided"] for d in docs] == [True, True]
    assert_problem(client.post(provide, json={}, headers=h(world, "trader")), 409, "documents")  # nothing new
    inbox = client.get("/api/v1/inbox", headers=h(world, "officer")).json()["items"]  # the officer who asked
    assert [(i["code"], i["params"]["count"]) for i in inbox if i["declaration_no"] == no] == [
        ("declaration.documents_provided", 2)]
    assert_problem(client.post(provide, json={}, headers=h(world, "officer")), 403)
    # what the trader's page reads from its events: asked for a certificate of origin, answered
    req = document_request("inspection", "red", world.platform.declarations.events(world.principals["trader"], no))
    assert req.asked and req.reason_code == "origin_certificate" and req.note == "Form E"
    assert req.answered_at is not None and req.can_answer
    with world.platform.sessions() as s:  # what the hold queue shows beside it
        marks = world.platform.documents.queue_marks(s, [no, "224800000000000000"])
    assert {k: (m.count, m.answered) for k, m in marks.items()} == {no: (2, True)}
    r = client.post(f"/api/v1/declarations/{no}/decision", headers=h(world, "officer"),
                    json={"decision": "request_documents", "reason_code": "licence"})  # asked again
    with world.platform.sessions() as s:
        assert world.platform.documents.queue_marks(s, [no])[no].answered is False


def test_documents_provided_on_a_yellow_lane_keeps_it_held(client, world):
    no = held(client, world, Lane.YELLOW)
    assert attach(client, world, no, pdf_bytes()).status_code == 201
    r = client.post(f"/api/v1/declarations/{no}/documents/provided", json={}, headers=h(world, "trader"))
    assert r.status_code == 201 and r.json()["to_status"] == "lane_assigned"
    d = client.get(f"/api/v1/declarations/{no}", headers=h(world, "officer")).json()
    assert d["status"] == "lane_assigned" and d["lane"] == "yellow"
    # the officer still decides: a release after the document check
    r = client.post(f"/api/v1/declarations/{no}/decision", headers=h(world, "officer"),
                    json={"decision": "release", "reason_code": "documents_in_order"})
    assert r.status_code == 200 and r.json()["status"] == "released"
    assert_problem(client.post(f"/api/v1/declarations/{no}/documents/provided", json={},
                               headers=h(world, "trader")), 409, "documents")
    # the audit trace still explains every status change
    from smartcustoms.audit.verify import verify

    with world.platform.engine.connect() as conn:
        assert verify(conn).ok


def test_documents_rows_are_append_only(client, world):
    no = held(client, world)
    assert attach(client, world, no, pdf_bytes()).status_code == 201
    for sql in ("UPDATE declaration_documents SET file_name = 'x.pdf'", "DELETE FROM declaration_documents"):
        with pytest.raises(DBAPIError), world.platform.engine.begin() as conn:
            conn.execute(text(sql))


# -- content, names and the store (no database) ---------------------------------------------------------
def test_content_is_recognised_by_its_bytes_and_must_open():
    assert check_content(pdf_bytes()) == PDF
    assert check_content(png_bytes()) == PNG
    truncated = png_bytes()[:60]
    with pytest.raises(ContentRefused) as refused:
        check_content(truncated)
    assert refused.value.code == "unreadable"
    with pytest.raises(ContentRefused) as refused:
        check_content(png_bytes((300, 300)), max_pixels=10_000)
    assert refused.value.code == "too_many_pixels"
    with pytest.raises(ContentRefused) as refused:
        check_content(b"PK\x03\x04 a zip file")
    assert refused.value.code == "wrong_type"


def test_file_names_are_sanitised_and_follow_the_content():
    assert safe_file_name("C:\\scans\\发票 2026.PDF", PDF) == "发票 2026.pdf"
    assert safe_file_name("a\x00b;rm -rf $HOME.jpeg", "image/jpeg") == "ab_rm -rf _HOME.jpeg"
    assert safe_file_name("../../etc/passwd", PDF) == "passwd.pdf"
    assert safe_file_name("report.exe", PDF) == "report.pdf"
    assert safe_file_name("", PNG) == "document.png"
    assert len(safe_file_name("x" * 500 + ".pdf", PDF)) == 120
    assert content_disposition("发票.pdf") == "attachment; filename=\"__.pdf\"; filename*=UTF-8''%E5%8F%91%E7%A5%A8.pdf"


def test_the_file_store_keeps_content_by_hash_and_detects_damage(tmp_path):
    store = FileSystemStore(tmp_path / "documents")
    data = pdf_bytes()
    digest = hashlib.sha256(data).hexdigest()
    store.put(digest, data)
    store.put(digest, data)  # the same content again: nothing changes
    assert store.exists(digest) and store.get(digest) == data
    with pytest.raises(ValueError):
        store.put(digest, data + b" ")
    store.path(digest).write_bytes(data + b"tampered")
    with pytest.raises(StoredContentMissing):
        store.get(digest)
    with pytest.raises(StoredContentMissing):
        store.get("0" * 64)
    with pytest.raises(ValueError):
        store.path("../../etc/passwd")
