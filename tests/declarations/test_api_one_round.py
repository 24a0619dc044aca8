"""POST/PUT /api/v1/declarations report every field error in the first answer (issue #18): wire errors and
code-list problems (an unknown HS code, unit, office) together, not in two rounds."""

from __future__ import annotations

from tests.support import declaration_payload, lodge
from tests.support import key_header as h


def _fields(r) -> dict[str, str]:
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    return {e["field"]: e["message"] for e in r.json()["errors"]}


def test_a_bad_hs_code_is_reported_with_missing_fields_in_one_round(client, world):
    p = declaration_payload()
    p["items"][1]["hs_code"] = "9999990000"  # well formed, not in HS 2022
    p["items"][0]["unit"] = "999"  # well formed, no such unit
    p["office_code"] = "0000"
    del p["packages"], p["declared_at"]
    p["items"][0]["quantity"] = "-1"
    errors = _fields(client.post("/api/v1/declarations", json=p, headers=h(world, "trader")))
    assert {"packages", "declared_at", "items[0].quantity"} <= errors.keys()
    assert "not a valid HS 2022 subheading" in errors["items[1].hs_code"]
    assert errors["items[0].unit"] == "unknown unit 999"
    assert errors["office_code"] == "unknown customs office 0000"


def test_a_malformed_field_is_reported_once_by_its_format(client, world):
    p = declaration_payload()
    p["items"][0]["hs_code"] = "69072"  # malformed: the format error only, no second code-list message
    del p["packages"]
    r = client.post("/api/v1/declarations", json=p, headers=h(world, "trader"))
    assert r.status_code == 422
    fields = [e["field"] for e in r.json()["errors"]]
    assert fields.count("items[0].hs_code") == 1 and "packages" in fields


def test_an_amendment_reports_every_error_in_one_round(client, world):
    r = lodge(client, world)
    assert r.status_code == 201, r.text
    p = declaration_payload()
    p["items"][0]["hs_code"] = "9999990000"
    del p["gross_mass_kg"]
    errors = _fields(client.put(f"/api/v1/declarations/{r.json()['declaration_no']}", json=p,
                                headers=h(world, "trader")))
    assert {"gross_mass_kg", "items[0].hs_code"} <= errors.keys()
