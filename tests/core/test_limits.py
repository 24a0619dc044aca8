"""Request limits and API hygiene: body sizes (413), early 401, upload jobs on disk with capped problems,
bounded integer parameters, UTC datetimes and documented problem answers."""

from __future__ import annotations

import asyncio
import json
import re
import stat
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from smartcustoms.tax.service import TARIFF_COLUMNS
from smartcustoms.web.app import create_app
from smartcustoms.web.uploads import INTERRUPTED, UploadStore
from tests.support import World, assert_problem, declaration_payload
from tests.support import key_header as h

HEADER = ",".join(TARIFF_COLUMNS)



@pytest.fixture
def small_limits(world: World) -> World:
    """The world with small body limits: 1 000 bytes for JSON, 5 000 for CEB messages, 8 000 for uploads."""
    s = world.platform.settings
    s.max_body_bytes, s.max_cbec_body_bytes, s.max_upload_bytes = 1000, 5000, 8000
    return world



def sign_in(c: TestClient, username: str) -> str:
    """Sign ``username`` in on the web pages; the session's anti-forgery token."""
    token = re.search(r'name="csrf-token" content="([^"]+)"', c.get("/login").text).group(1)
    r = c.post("/login", data={"username": username, "password": "correct horse", "csrf": token},
               follow_redirects=False)
    assert r.status_code == 303, r.text
    return re.search(r'name="csrf-token" content="([^"]+)"', c.get("/upload").text).group(1)


# -- 7: body limits, early 401 ---------------------------------------------------------------------------
def test_a_body_over_its_limit_is_a_413_problem_declared_or_streamed(small_limits):
    world = small_limits
    with TestClient(create_app(world.platform)) as c:
        body = json.dumps(declaration_payload(seller_name="x" * 2000)).encode()
        r = c.post("/api/v1/declarations", content=body,
                   headers={**h(world, "trader"), "Content-Type": "application/json"})
        assert "1000 bytes" in assert_problem(r, 413)["detail"]

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
            yield from (b" " * 400 for _ in range(5))

        r = c.post("/api/v1/declarations", content=chunks(),
                   headers={**h(world, "trader"), "Content-Type": "application/json"})
        assert_problem(r, 413)
        # CEB messages have their own, larger limit
        r = c.post("/api/v1/cbec/messages", content=b"<x>" + b" " * 3000 + b"</x>",
                   headers={**h(world, "trader"), "Content-Type": "application/xml"})
        assert r.status_code != 413
        r = c.post("/api/v1/cbec/messages", content=b" " * 6000,
                   headers={**h(world, "trader"), "Content-Type": "application/xml"})
        assert_problem(r, 413)
        # a tariff table is an upload: up to 8 000 bytes
        table = "\n".join([HEADER, *(f"{70 + i},Line {i} {'x' * 40},ad_valorem,5,,,none,,,,13" for i in range(20))])
        assert 1000 < len(table) < 8000
        assert c.put("/api/v1/tariff", content=table, headers=h(world, "admin")).status_code == 200
        assert_problem(c.put("/api/v1/tariff", content=table * 10, headers=h(world, "admin")), 413)


def test_an_anonymous_api_call_is_refused_before_its_body_is_read(world):
    app = create_app(world.platform)
    reads: list[int] = []
    sent: list[dict] = []

    async def receive() -> dict:
        reads.append(1)
        return {"type": "http.request", "body": b"{" * 1000, "more_body": True}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
             "scheme": "http", "path": "/api/v1/declarations", "raw_path": b"/api/v1/declarations",
             "query_string": b"", "root_path": "", "server": ("testserver", 80), "client": ("127.0.0.1", 1),
             "headers": [(b"content-type", b"application/json"), (b"content-length", b"150000000")]}
    asyncio.run(app(scope, receive, send))
    assert reads == []  # not one byte of the 150 MB read
    assert sent[0]["status"] == 401
    body = json.loads(b"".join(m.get("body", b"") for m in sent[1:]))
    assert body["title"] == "Unauthorized" and body["instance"] == "/api/v1/declarations"


def test_a_caller_with_a_key_or_a_session_still_gets_through(client, world):
    assert client.get("/api/v1/me", headers=h(world, "trader")).json()["username"] == "trader"
    assert_problem(client.get("/api/v1/me", headers={"X-API-Key": "sc_nope_nope"}), 401)
    sign_in(client, "trader")
    assert client.get("/api/v1/me").json()["username"] == "trader"  # the session cookie


# -- 7: upload jobs: capped problems, on disk, the owner's only ---------------------------------------------
def _wait(c: TestClient, job_id: str) -> dict:
    for _ in range(300):
        job = c.get(f"/upload/{job_id}/status").json()
        if job["state"] != "running":
            return job
        time.sleep(0.05)
    raise AssertionError("the upload did not finish")


def test_an_upload_keeps_its_first_problems_a_count_and_survives_a_restart(world):
    world.platform.settings.upload_max_problems = 5
    lines = [json.dumps(declaration_payload()), *("{not json" for _ in range(40)), json.dumps(declaration_payload())]
    with TestClient(create_app(world.platform)) as c:
        token = sign_in(c, "trader")
        r = c.post("/upload", data={"csrf": token}, headers={"Accept": "application/json"},
                   files={"file": ("batch.jsonl", "\n".join(lines).encode(), "application/json")})
        assert r.status_code == 202, r.text
        job_id = r.json()["job"]
        job = _wait(c, job_id)
    assert job["state"] == "done" and job["created"] == 2 and job["rejected"] == 40
    assert job["problem_count"] == 40 and len(job["problems"]) == 5
    assert job["problems"][0]["line"] == 2 and job["problems"][0]["field"] == "line"
    path = world.platform.settings.data_dir / "uploads" / f"{job_id}.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    # a new process (a new app) reads the job from disk; another user does not see it
    with TestClient(create_app(world.platform)) as c:
        sign_in(c, "trader")
        again = c.get(f"/upload/{job_id}/status").json()
        assert again == job
        assert "batch.jsonl" in c.get(f"/upload/{job_id}").text
    with TestClient(create_app(world.platform)) as c:
        sign_in(c, "other")
        assert c.get(f"/upload/{job_id}/status").status_code == 404
        assert c.get("/upload/..%2F..%2Fsmartcustoms/status").status_code == 404


def test_a_job_cut_short_by_a_restart_reads_as_failed(tmp_path):
    job = UploadStore(tmp_path).new(7, "big.csv")
    after_restart = UploadStore(tmp_path)  # the thread that ran it is gone
    seen = after_restart.get(job.id, 7)
    assert seen is not None and seen.state == "failed"
    assert seen.as_dict()["problems"][-1]["message"] == INTERRUPTED
    assert after_restart.get(job.id, 8) is None


# -- 16: integer parameters are bounded ------------------------------------------------------------------
HUGE = "9" * 30


@pytest.mark.parametrize(("method", "url", "user"), [
    ("get", f"/api/v1/declarations?offset={HUGE}", "trader"),
    ("get", f"/api/v1/enterprises?offset={HUGE}", "officer"),
    ("get", f"/api/v1/enterprises?limit={HUGE}", "officer"),
    ("put", f"/api/v1/risk/rules/{HUGE}", "analyst"),
    ("post", f"/api/v1/risk/models/{HUGE}/promote", "analyst"),
    ("post", "/api/v1/risk/models/-1/promote", "analyst"),
    ("post", f"/api/v1/risk/models/train?holdout_days={HUGE}", "analyst"),
    ("get", f"/rules?edit={HUGE}", None),
])
def test_a_huge_integer_parameter_is_a_422_problem(client, world, method, url, user):
    kwargs = {"json": {}} if method == "put" else {}
    r = getattr(client, method)(url, headers=h(world, user) if user else {}, **kwargs)
    assert_problem(r, 422)


@pytest.mark.parametrize("url", [f"/declarations?page={HUGE}", f"/declarations?size={HUGE}",
                                 f"/queue?page={HUGE}"])
def test_a_huge_list_parameter_is_a_422_page_naming_it(client, world, url):
    """The list pages read their parameters themselves (filters kept, each error beside its field)."""
    sign_in(client, "officer")
    r = client.get(url)
    assert r.status_code == 422, r.text[:300]
    assert "text/html" in r.headers["content-type"]


def test_a_mangled_parcel_cursor_or_form_number_is_no_server_error(client, world):
    sign_in(client, "officer")
    assert client.get(f"/parcels?status=decided&after={HUGE}.{HUGE}").status_code == 200
    assert client.get("/parcels?status=decided&after=²³.¹").status_code == 200


def test_a_number_the_database_driver_cannot_hold_is_a_422_not_a_500(sqlite_world):
    """The safety net behind the bounds: the driver's OverflowError (SQLite INTEGER) is the caller's 422."""
    from sqlalchemy import text

    app = create_app(sqlite_world.platform)

    @app.get("/api/v1/test-overflow")  # a route without bounds, as a new one might be written
    def unbounded(n: int) -> dict:
        with sqlite_world.platform.engine.connect() as conn:
            return {"n": conn.execute(text("SELECT :n"), {"n": n}).scalar()}

    with TestClient(app) as c:
        assert c.get("/api/v1/test-overflow?n=5", headers=h(sqlite_world, "trader")).json() == {"n": 5}
        r = c.get(f"/api/v1/test-overflow?n={HUGE}", headers=h(sqlite_world, "trader"))
        assert "out of range" in assert_problem(r, 422)["detail"]


# -- 20: UTC datetimes, documented problems -------------------------------------------------------------------
UTC_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def test_api_datetimes_are_utc_with_a_zone(client, world):
    r = client.post("/api/v1/declarations", json=declaration_payload(), headers=h(world, "trader"))
    assert r.status_code == 201, r.text
    d = r.json()
    assert UTC_Z.match(d["lodged_at"]) and UTC_Z.match(d["declared_at"])
    events = client.get(f"/api/v1/declarations/{d['declaration_no']}/events", headers=h(world, "trader")).json()
    assert events and all(UTC_Z.match(e["at"]) for e in events)
    listed = client.get("/api/v1/declarations", headers=h(world, "trader")).json()
    assert all(UTC_Z.match(x["lodged_at"]) for x in listed)
    grades = client.get(f"/api/v1/enterprises/{world.importer}/credit-grade", headers=h(world, "officer")).json()
    assert all(UTC_Z.match(g["at"]) for g in grades)
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    assert schemas["DeclarationOut"]["properties"]["lodged_at"]["format"] == "date-time"


def test_every_api_operation_documents_its_problem_answers(client):
    doc = client.get("/openapi.json").json()
    assert set(doc["components"]["schemas"]["Problem"]["required"]) >= {"title", "status", "detail", "instance"}
    operations = [(path, method, op) for path, item in doc["paths"].items() if path.startswith("/api/")
                  for method, op in item.items()]
    assert len(operations) > 20
    for path, method, op in operations:
        for status in ("401", "403", "404", "409", "413", "422", "429"):
            content = op["responses"].get(status, {}).get("content", {})
            assert content.get("application/problem+json", {}).get("schema") == {
                "$ref": "#/components/schemas/Problem"}, (method, path, status)
