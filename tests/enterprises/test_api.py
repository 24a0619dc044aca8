"""The administrators' enterprise API: enterprises, credit grades, users and API keys, mandates."""

from __future__ import annotations

from tests import support
from tests.support import DECLARANT, OTHER_IMPORTER, assert_problem
from tests.support import assert_problem as problem
from tests.support import key_header as h


def test_admin_manages_enterprises_grades_users_and_keys(client, world):
    admin = h(world, "admin")
    r = client.post("/api/v1/enterprises", headers=admin, json={
        "code": "91320000MA1XYZ0001", "name": "Suzhou New Importer", "roles": ["importer"]})
    assert r.status_code == 201 and r.json()["credit_grade"] == "general"
    r = client.put("/api/v1/enterprises/91320000MA1XYZ0001/credit-grade", headers=admin,
                   json={"grade": "advanced_certified", "reason": "AEO audit passed"})
    assert [c["grade_to"] for c in r.json()] == ["general", "advanced_certified"]
    assert client.post("/api/v1/enterprises", headers=h(world, "officer"), json={
        "code": "91320000MA1XYZ0002", "name": "x", "roles": ["importer"]}).status_code == 403
    r = client.post("/api/v1/users", headers=admin, json={"username": "newtrader", "role": "trader",
                                                          "enterprise_code": "91320000MA1XYZ0001"})
    assert r.status_code == 201
    r = client.post("/api/v1/users", headers=admin, json={"username": "nobody", "role": "trader"})
    assert r.status_code == 422 and r.json()["title"] == "The user is not valid"
    key = client.post("/api/v1/users/newtrader/api-keys", headers=admin, json={"label": "erp"}).json()
    assert key["api_key"].startswith("sck_")
    me = client.get("/api/v1/me", headers={"X-API-Key": key["api_key"]}).json()
    assert me == {"username": "newtrader", "role": "trader", "enterprise_code": "91320000MA1XYZ0001"}
    assert client.delete(f"/api/v1/api-keys/{key['prefix']}", headers=admin).status_code == 204
    assert client.get("/api/v1/me", headers={"X-API-Key": key["api_key"]}).status_code == 401
    r = client.post("/api/v1/enterprises", headers=admin, json={"code": "bad", "name": "x", "roles": []})
    assert_problem(r, 422, "code")


def test_a_mandate_needs_registered_parties_and_a_period(client, world):
    admin = h(world, "admin")
    problem(client.post("/api/v1/mandates", headers=admin,
                        json={"declarant_code": DECLARANT, "importer_code": support.UNREGISTERED}),
            422, "importer_code")
    problem(client.post("/api/v1/mandates", headers=admin,
                        json={"declarant_code": DECLARANT, "importer_code": OTHER_IMPORTER,
                              "valid_from": "2026-01-02T00:00:00", "valid_to": "2026-01-01T00:00:00"}), 422, "valid_to")
