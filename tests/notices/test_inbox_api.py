"""GET /api/v1/inbox and marking read over HTTP: paged, filtered, the caller's own only (RFC 9457 errors)."""

from __future__ import annotations

from smartcustoms.declarations.lifecycle import Lane
from smartcustoms.declarations.schemas import DeclarationIn
from smartcustoms.declarations.service import LaneDecision
from tests.support import SYSTEM, assert_problem, declaration_payload, key_header


class RedLane:
    def decide(self, session, batch):
        return [LaneDecision(Lane.RED, 0.9, ["test rule"], "rule") for _ in batch]


def held(world, n: int = 1) -> list[str]:
    world.platform.set_selectivity(RedLane())
    bodies = [DeclarationIn.model_validate(declaration_payload()) for _ in range(n)]
    return [r.declaration_no for r in world.platform.declarations.lodge_many(SYSTEM, bodies)]


def test_the_inbox_pages_newest_first_and_filters_unread(client, world):
    nos = held(world, 3)
    h = key_header(world, "trader")
    r = client.get("/api/v1/inbox", params={"limit": 2}, headers=h)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["total"] == 3 and body["unread"] == 3 and body["limit"] == 2 and body["offset"] == 0
    first = body["items"][0]
    assert first["code"] == "declaration.held" and first["params"] == {"lane": "red"}
    assert first["text"] == "Held for a physical inspection." and first["read"] is False
    assert first["at"].endswith("Z") and first["declaration_no"] in nos
    rest = client.get("/api/v1/inbox", params={"limit": 2, "offset": 2}, headers=h).json()["items"]
    ids = [i["id"] for i in body["items"]] + [i["id"] for i in rest]
    assert ids == sorted(ids, reverse=True) and len(ids) == 3
    r = client.post("/api/v1/inbox/read", json={"ids": [ids[0]]}, headers=h)
    assert r.status_code == 200 and r.json() == {"marked": 1, "unread": 2}
    unread = client.get("/api/v1/inbox", params={"unread": True}, headers=h).json()
    assert [i["id"] for i in unread["items"]] == ids[1:] and unread["total"] == 2
    # the declarant's users keep their own state
    assert client.get("/api/v1/inbox", headers=key_header(world, "broker")).json()["unread"] == 3
    r = client.post("/api/v1/inbox/read-all", headers=h)
    assert r.status_code == 200 and r.json() == {"marked": 2, "unread": 0}
    assert client.get("/api/v1/inbox", params={"unread": "true"}, headers=h).json()["items"] == []


def test_a_trader_never_sees_or_marks_another_enterprises_messages(client, world):
    held(world)
    mine = client.get("/api/v1/inbox", headers=key_header(world, "trader")).json()["items"][0]
    other = key_header(world, "other")
    assert client.get("/api/v1/inbox", headers=other).json() == {"items": [], "total": 0, "unread": 0, "limit": 25,
                                                                 "offset": 0}
    assert_problem(client.post("/api/v1/inbox/read", json={"ids": [mine["id"]]}, headers=other), 404, "ids")
    assert client.get("/api/v1/inbox", headers=key_header(world, "trader")).json()["unread"] == 1
    assert client.get("/api/v1/inbox", headers=key_header(world, "officer")).json()["total"] == 0


def test_inbox_requests_are_checked(client, world):
    h = key_header(world, "trader")
    assert client.get("/api/v1/inbox").status_code == 401
    assert_problem(client.post("/api/v1/inbox/read", json={"ids": []}, headers=h), 422, "ids")
    assert_problem(client.post("/api/v1/inbox/read", json={"ids": list(range(1, 202))}, headers=h), 422, "ids")
    assert_problem(client.post("/api/v1/inbox/read", json={"ids": [0]}, headers=h), 422)
    assert_problem(client.post("/api/v1/inbox/read", json={"ids": [1], "all": True}, headers=h), 422)
    assert_problem(client.get("/api/v1/inbox", params={"limit": 1000}, headers=h), 422, "limit")
    assert_problem(client.get("/api/v1/inbox", params={"offset": -1}, headers=h), 422, "offset")
