"""Demo data for ``make run``: enterprises, users with API keys, and simulated declarations."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from rich.progress import Progress
from sqlalchemy import func, select

from smartcustoms.audit.service import utcnow
from smartcustoms.db import transaction
from smartcustoms.declarations.models import Declaration
from smartcustoms.enterprises.models import Enterprise, User
from smartcustoms.enterprises.schemas import CreditGrade, EnterpriseIn, EnterpriseRole, UserIn
from smartcustoms.enterprises.service import create_api_key, create_enterprise, create_user
from smartcustoms.errors import ValidationProblem
from smartcustoms.platform import Platform
from smartcustoms.risk.service import promote, train_candidate
from smartcustoms.security import Principal, Role
from smartcustoms.simulate.declarations import DeclarationSimulator
from smartcustoms.simulate.replay import replay_history

SYSTEM = Principal(0, "system", Role.ADMIN)
DEMO_PASSWORD = "demo-password"  # noqa: S105 - a published demo credential, documented in the README


@dataclass
class DemoAccess:
    keys: dict[str, str]  # username -> API key
    trader_enterprise: str
    example_payload: dict


def replay_demo_history(platform: Platform, sim: DeclarationSimulator, n: int, now: datetime) -> None:
    """Sixty days of history: the first 60 % under random control only, then a model trained on
    those findings and promoted, then the rest selected by it."""
    first = int(n * 0.6)
    cut = now - timedelta(days=20)
    with Progress(transient=True) as progress:
        task = progress.add_task("replaying demo history", total=n)
        step = lambda k: progress.advance(task, k)  # noqa: E731
        replay_history(platform, sim.generate(first, now - timedelta(days=60), cut), progress=step)
        with transaction(platform.sessions) as s:
            try:
                v = train_candidate(s, SYSTEM, holdout_days=7, now=cut, num_boost_round=150)
                promote(s, v.version, SYSTEM)
            except ValidationProblem:
                v = None  # too few findings to learn from: random control continues
        if v is not None:
            with platform.sessions() as s:
                platform.risk.reload_model(s)
        replay_history(platform, sim.generate(n - first, cut + timedelta(minutes=1), now - timedelta(minutes=5)),
                       progress=step)


def load_demo(platform: Platform, declarations: int = 3000, seed: int = 7,
              example_path: Path | None = None) -> DemoAccess:
    """Create demo enterprises, users and a replayed history (once), then fresh API keys for each user."""
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
        replay_demo_history(platform, sim, declarations, now)
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
