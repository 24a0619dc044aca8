"""Code-list lookups over the API: HS search, trade modes, and a tariff line by HS code."""

from __future__ import annotations

from tests.support import key_header as h


def test_code_lists_and_hs_search(client, world):
    r = client.get("/api/v1/codes/hs", params={"q": "ceramic tiles"}, headers=h(world, "trader"))
    assert any(x["code"] == "690722" for x in r.json())
    r = client.get("/api/v1/codes/hs", params={"q": "6907"}, headers=h(world, "trader"))
    assert {x["code"] for x in r.json()} >= {"690721", "690722"}
    modes = client.get("/api/v1/codes/trade-modes", headers=h(world, "trader")).json()
    assert {"0110", "9610", "1210"} <= {m["code"] for m in modes}
    assert client.get("/api/v1/codes/nonsense", headers=h(world, "trader")).status_code == 404
    assert client.get("/api/v1/tariff/2208300000", headers=h(world, "trader")).json()["ct_type"] == "composite"
