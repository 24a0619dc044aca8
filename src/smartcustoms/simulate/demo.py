"""Demo data for ``make run``: enterprises, users with API keys, and simulated declarations."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from rich.progress import Progress
from sqlalchemy import func, select

from smartcustoms.audit.service import utcnow
from smartcustoms.db import transaction
from smartcustoms.declarations.models import Declaration
from smartcustoms.declarations.schemas import DeclarationIn
from smartcustoms.enterprises.models import Enterprise, User
from smartcustoms.enterprises.schemas import CreditGrade, EnterpriseIn, EnterpriseRole, UserIn
from smartcustoms.enterprises.service import create_api_key, create_enterprise, create_user
from smartcustoms.platform import Platform
from smartcustoms.security import Principal, Role
from smartcustoms.simulate.declarations import DeclarationSimulator

SYSTEM = Principal(0, "system", Role.ADMIN)
DEMO_PASSWORD = "demo-password"  # noqa: S105 - a published demo credential, documented in the README


@dataclass
class DemoAccess:
    keys: dict[str, str]  # username -> API key
    trader_enterprise: str
    example_payload: dict


def load_demo(platform: Platform, declarations: int = 3000, seed: int = 7, batch: int = 500,
              example_path: Path | None = None) -> DemoAccess:
    """Create demo enterprises, users and declarations (once), then fresh API keys for each demo user."""
    sim = DeclarationSimulator(seed)
    with platform.sessions() as s:
        have = s.scalar(select(func.count()).select_from(Enterprise))
    if not have:
        with transaction(platform.sessions) as s:
            for e in sim.enterprises:
                create_enterprise(s, EnterpriseIn(code=e.code, name=e.name,
                                                  roles=[EnterpriseRole(r) for r in e.roles],
                                                  credit_grade=CreditGrade(e.credit_grade)), SYSTEM)
            trader_ent = sim.importers[0].code
            users = [("trader1", Role.TRADER, trader_ent), ("trader2", Role.TRADER, sim.importers[1].code),
                     ("officer1", Role.OFFICER, None), ("analyst1", Role.ANALYST, None), ("admin", Role.ADMIN, None)]
            for name, role, ent in users:
                create_user(s, UserIn(username=name, display_name=name, password=DEMO_PASSWORD, role=role,
                                      enterprise_code=ent), SYSTEM)
    with platform.sessions() as s:
        lodged = s.scalar(select(func.count()).select_from(Declaration))
    now = utcnow()
    if not lodged and declarations:
        sims = sim.generate(declarations, now - timedelta(days=30), now - timedelta(minutes=5))
        with Progress(transient=True) as progress:
            task = progress.add_task("lodging demo declarations", total=len(sims))
            for i in range(0, len(sims), batch):
                chunk = [DeclarationIn.model_validate(d.payload) for d in sims[i:i + batch]]
                platform.declarations.lodge_many(SYSTEM, chunk)
                progress.advance(task, len(chunk))
    keys = {}
    with transaction(platform.sessions) as s:
        for name in s.scalars(select(User.username).order_by(User.id)):
            keys[name] = create_api_key(s, name, "demo")
        trader_ent = s.scalar(select(Enterprise.code).join(User, User.enterprise_id == Enterprise.id)
                              .where(User.username == "trader1"))
    example = sim.generate(1, now - timedelta(minutes=2), now - timedelta(minutes=1))[0].payload
    example["importer_code"] = trader_ent
    example["client_message_id"] = f"demo-{now:%Y%m%d%H%M%S}"
    if example_path is not None:
        example_path.parent.mkdir(parents=True, exist_ok=True)
        example_path.write_text(json.dumps(example, indent=2, ensure_ascii=False))
    return DemoAccess(keys, trader_ent, example)
