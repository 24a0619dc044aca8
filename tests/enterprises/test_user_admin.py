"""User administration over the API: change a role, reset a password, the keys' last use; audited."""

from __future__ import annotations

from sqlalchemy import select

from smartcustoms.audit.models import AuditEntry
from smartcustoms.enterprises.service import check_login
from tests.support import assert_problem as problem
from tests.support import key_header as h


def audited(world, action: str) -> list[AuditEntry]:
    with world.platform.sessions() as s:
        return list(s.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def test_an_administrator_changes_a_role_but_not_their_own(client, world):
    admin = h(world, "admin")
    problem(client.put("/api/v1/users/officer/role", headers=admin, json={"role": "trader"}), 422, "enterprise_code")
    problem(client.put("/api/v1/users/officer/role", headers=admin,
                       json={"role": "trader", "enterprise_code": "9999999999"}), 422, "enterprise_code")
    problem(client.put("/api/v1/users/officer/role", headers=admin,
                       json={"role": "analyst", "enterprise_code": world.importer}), 422, "enterprise_code")
    problem(client.put("/api/v1/users/admin/role", headers=admin, json={"role": "officer"}), 409, "role")
    assert client.put("/api/v1/users/officer/role", headers=h(world, "officer"),
                      json={"role": "admin"}).status_code == 403
    assert client.get("/api/v1/me", headers=h(world, "officer")).json()["role"] == "officer"  # now cached
    r = client.put("/api/v1/users/officer/role", headers=admin, json={"role": "analyst"})
    assert r.status_code == 200 and r.json()["role"] == "analyst"
    assert client.get("/api/v1/me", headers=h(world, "officer")).json()["role"] == "analyst"  # cache cleared
    [entry] = audited(world, "user.change_role")
    assert (entry.actor, entry.object_id, entry.detail["from"], entry.detail["to"]) == \
        ("admin", "officer", "officer", "analyst")
    r = client.put("/api/v1/users/analyst/role", headers=admin, json={"role": "trader",
                                                                      "enterprise_code": world.importer})
    assert r.json()["enterprise_code"] == world.importer
    assert client.get("/api/v1/me", headers=h(world, "analyst")).json()["enterprise_code"] == world.importer


def test_an_administrator_resets_a_password_under_the_policy(client, world):
    admin = h(world, "admin")
    problem(client.put("/api/v1/users/trader/password", headers=admin, json={"password": "password2024"}),
            422, "password")
    problem(client.put("/api/v1/users/nobody/password", headers=admin, json={"password": "a sound passphrase"}),
            404)
    r = client.put("/api/v1/users/trader/password", headers=admin, json={"password": "a sound passphrase"})
    assert r.status_code == 204
    with world.platform.sessions() as s:
        assert check_login(s, "trader", "correct horse")[0] is None
        assert check_login(s, "trader", "a sound passphrase")[0] is not None
    assert [e.object_id for e in audited(world, "user.reset_password")] == ["trader"]
    assert client.get("/api/v1/me", headers=h(world, "trader")).status_code == 200  # keys keep working


def test_the_list_of_keys_shows_their_last_use(client, world):
    admin = h(world, "admin")
    before = {k["username"]: k for k in client.get("/api/v1/api-keys", headers=admin).json()}
    assert before["officer"]["last_used_at"] is None and "api_key" not in before["officer"]
    for _ in range(3):  # (the write is throttled to once a minute per key)
        assert client.get("/api/v1/me", headers=h(world, "officer")).status_code == 200
    after = {k["username"]: k for k in client.get("/api/v1/api-keys", headers=admin).json()}
    assert after["officer"]["last_used_at"] is not None and after["trader"]["last_used_at"] is None
    assert client.get("/api/v1/api-keys", headers=h(world, "officer")).status_code == 403
