"""Test support: a seeded world of parties, users and keys, and a valid declaration payload."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from smartcustoms.core.db import transaction
from smartcustoms.core.security import SYSTEM, Principal, Role
from smartcustoms.enterprises.mandates import create_mandate
from smartcustoms.enterprises.schemas import CreditGrade, EnterpriseIn, EnterpriseRole, MandateIn, UserIn
from smartcustoms.enterprises.service import create_api_key, create_enterprise, create_user
from smartcustoms.platform import Platform

#: China customs' official CEB package (read-only, never copied here; tests that need it skip when absent)
CEB_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "ceb"
#: the official import XSD of each edition
IMPORT_XSD = {"2018": CEB_DIR / "2018" / "xsd" / "进口业务节点报文.xsd",
              "202205": CEB_DIR / "202205" / "xsd" / "海关跨境进口业务节点报文定义202205.xsd"}


@dataclass
class World:
    """A platform with registered parties, users and their API keys."""

    platform: Platform
    importer: str
    declarant: str
    other_importer: str
    unregistered: str
    keys: dict[str, str]
    principals: dict[str, Principal]


IMPORTER = "91310000MA1FL8XQ3A"
DECLARANT = "3122480ABC"
OTHER_IMPORTER = "91440300MA5F0AAA1B"
AEO_IMPORTER = "91110000100000000X"
UNREGISTERED = "91990000ZZZZZZZZZ9"


def seed_world(platform: Platform) -> World:
    with transaction(platform.sessions) as s:
        for code, name, roles, grade in [
            (IMPORTER, "Shanghai Example Trading Co., Ltd.", [EnterpriseRole.IMPORTER], CreditGrade.GENERAL),
            (DECLARANT, "Yangshan Customs Brokerage", [EnterpriseRole.DECLARANT], CreditGrade.GENERAL),
            (OTHER_IMPORTER, "Shenzhen Other Imports Ltd.", [EnterpriseRole.IMPORTER], CreditGrade.GENERAL),
            (AEO_IMPORTER, "Beijing Trusted Trader", [EnterpriseRole.IMPORTER], CreditGrade.ADVANCED_CERTIFIED),
        ]:
            create_enterprise(s, EnterpriseIn(code=code, name=name, roles=roles, credit_grade=grade), SYSTEM)
        # the broker lodges for IMPORTER (and IMPORTER names it as declarant) under a mandate
        create_mandate(s, MandateIn(declarant_code=DECLARANT, importer_code=IMPORTER,
                                    valid_from=datetime(2020, 1, 1)), SYSTEM)
        users = [("trader", Role.TRADER, IMPORTER), ("broker", Role.TRADER, DECLARANT),
                 ("other", Role.TRADER, OTHER_IMPORTER), ("officer", Role.OFFICER, None),
                 ("analyst", Role.ANALYST, None), ("admin", Role.ADMIN, None)]
        for name, role, ent in users:
            create_user(s, UserIn(username=name, password="correct horse", role=role, enterprise_code=ent), SYSTEM)
        keys = {name: create_api_key(s, name) for name, _, _ in users}
        register_cbec_codes(s, IMPORTER)  # "trader" sends the CBEC samples and simulator traffic
    from smartcustoms.enterprises.service import resolve_api_key

    with platform.sessions() as s:
        principals = {name: resolve_api_key(s, key) for name, key in keys.items()}
    return World(platform, IMPORTER, DECLARANT, OTHER_IMPORTER, UNREGISTERED, keys, principals)


def register_cbec_codes(session, enterprise_code: str) -> None:
    """Let ``enterprise_code`` send CBEC messages under every code of the samples and the simulator."""
    from smartcustoms.cbec.simulate import sender_codes
    from smartcustoms.enterprises.schemas import SenderCodeIn
    from smartcustoms.enterprises.sender_codes import register_sender_code

    for code, kind in sender_codes():
        register_sender_code(session, enterprise_code, SenderCodeIn(code=code, kind=kind), SYSTEM)


def declaration_payload(**overrides) -> dict:
    """A valid two-item declaration by DECLARANT for IMPORTER, lodged now."""
    now = datetime.now(UTC) - timedelta(minutes=1)
    body = {
        "client_message_id": f"msg-{uuid.uuid4().hex[:16]}",
        "declarant_code": DECLARANT,
        "importer_code": IMPORTER,
        "seller_name": "Cerámica Levante S.L.",
        "trade_mode": "0110",
        "transport_mode": "2",
        "office_code": "2248",
        "departure_country": "ES",
        "origin_country": "ES",
        "currency": "USD",
        "incoterm": "CIF",
        "freight": "0",
        "insurance": None,
        "gross_mass_kg": "21000",
        "net_mass_kg": "20000",
        "packages": 20,
        "total_value": "13000.00",
        "declared_at": now.isoformat(),
        "items": [
            {"hs_code": "6907220000", "description": "Glazed ceramic wall tiles", "model_spec": "30x60 cm",
             "quantity": "18000", "unit": "035", "net_mass_kg": "18000", "unit_price": "0.5",
             "total_value": "9000.00", "origin_country": "ES"},
            {"hs_code": "6907220000", "description": "Glazed ceramic floor tiles", "model_spec": "60x60 cm",
             "quantity": "2000", "unit": "035", "net_mass_kg": "2000", "unit_price": "2",
             "total_value": "4000.00", "origin_country": "ESP"},
        ],
    }
    body.update(overrides)
    return body


def key_header(world: World, user: str) -> dict:
    """The ``X-API-Key`` header of one of the world's users."""
    return {"X-API-Key": world.keys[user]}


def assert_problem(r, status: int, field: str | None = None) -> dict:
    """An RFC 9457 problem answer with ``status``, a title and a detail, no traceback, naming ``field`` if given."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["status"] == status and body["title"] and body["detail"] and "Traceback" not in r.text
    if field is not None:
        fields = [e["field"] for e in body.get("errors", [])]
        assert field in fields, fields
    return body


def lodge(client, world: World, user: str = "trader", **overrides):
    """POST a declaration (``declaration_payload`` with ``overrides``) as ``user`` through the API."""
    return client.post("/api/v1/declarations", json=declaration_payload(**overrides), headers=key_header(world, user))
