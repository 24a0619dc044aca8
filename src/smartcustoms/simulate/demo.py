"""Demo data for ``make run``: enterprises, users with API keys, simulated declarations, CBEC parcels and scans."""

from __future__ import annotations

import json
import tempfile
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import cast

from rich.progress import Progress
from sqlalchemy import func, select

from smartcustoms.core.clock import utcnow
from smartcustoms.core.db import transaction
from smartcustoms.core.errors import ValidationProblem
from smartcustoms.core.security import SYSTEM, Role
from smartcustoms.declarations.models import Declaration
from smartcustoms.enterprises.mandates import create_mandate
from smartcustoms.enterprises.models import Enterprise, User
from smartcustoms.enterprises.schemas import CreditGrade, EnterpriseIn, EnterpriseRole, MandateIn, UserIn
from smartcustoms.enterprises.service import create_api_key, create_enterprise, create_user
from smartcustoms.platform import Platform
from smartcustoms.risk.targeting.service import promote, train_candidate
from smartcustoms.simulate.declarations import DeclarationSimulator
from smartcustoms.simulate.replay import replay_history

#: held declarations of each lane left waiting for an officer (besides those of the last two days)
OPEN_PER_LANE = 3
DEMO_PASSWORD = "demo-password"  # noqa: S105 - a published demo credential, documented in the README


@dataclass
class DemoAccess:
    """What the demo set-up hands out: API keys by user, the trader's enterprise and an example payload."""
    keys: dict[str, str]  # username -> API key
    trader_enterprise: str
    example_payload: dict


def replay_demo_history(platform: Platform, sim: DeclarationSimulator, n: int, now: datetime,
                        progress: Progress | None = None) -> None:
    """Sixty days of history: the first 60 % under random control only, then a model trained on
    those findings and promoted, then the rest selected by it. Findings come two days after lodging, so
    the declarations held in the last two days, and the latest few of each lane, wait in the officers' queue.
    ``progress`` (the caller's display) gets a bar of the declarations lodged; none without it."""
    first = int(n * 0.6)
    cut = now - timedelta(days=20)
    with nullcontext(progress) if progress is not None else Progress(disable=True) as progress:
        task = progress.add_task(f"replaying {n:,} demo declarations", total=n)
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
        # the last two days' held declarations, and the latest few of each lane, have no finding yet:
        # the officers' queue on first login
        replay_history(platform, sim.generate(n - first, cut + timedelta(minutes=1), now - timedelta(minutes=5)),
                       progress=step, until=now, open_per_lane=OPEN_PER_LANE)


#: credit grades of the simulated CBEC e-commerce sellers (the others are general): one AEO
CBEC_GRADES = {"1101960101": CreditGrade.ADVANCED_CERTIFIED}


def load_demo_parcels(platform: Platform, parcels: int = 2000, seed: int = 7) -> int:
    """Simulated CBEC traffic through the pipeline (once), so that the officers' page of held parcels and the
    dashboard have parcels to show; returns the parcels decided (0 when there were some already)."""
    from smartcustoms.cbec.engine import Engine
    from smartcustoms.cbec.runner import ingest_path
    from smartcustoms.cbec.simulate import generate
    from smartcustoms.cbec.store import Store

    with Store(platform.engine.url.render_as_string(hide_password=False)) as store:
        if store.execute("SELECT count(*) FROM cbec_parcel").fetchone()[0]:
            return 0
        engine = Engine(store)
        try:
            engine.warm_start()
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / "demo-cbec.xml"
                path.write_bytes(b"".join(generate(parcels, seed)))
                # incomplete parcels are reported at once rather than after the 10-minute deadline
                return ingest_path(engine, path, workers=0, flush=True).parcels
        finally:
            engine.log.close()  # the server's CBEC writer opens the log next


def load_demo(platform: Platform, declarations: int = 3000, seed: int = 7,
              example_path: Path | None = None, parcels: int = 0, progress: Progress | None = None) -> DemoAccess:
    """Create demo enterprises, users and a replayed history (once), then fresh API keys for each user.

    With ``parcels``, also that many simulated CBEC parcels (once); with ``progress``, bars of each step."""
    sim = DeclarationSimulator(seed)
    with platform.sessions() as s:
        have = s.scalar(select(func.count()).select_from(Enterprise))
    if not have:
        with transaction(platform.sessions) as s:
            for e in sim.enterprises:
                create_enterprise(s, EnterpriseIn(code=e.code, name=e.name,
                                                  roles=[EnterpriseRole(r) for r in e.roles],
                                                  credit_grade=CreditGrade(e.credit_grade)), SYSTEM)
            from smartcustoms.cbec.simulate import LOGISTICS, PLATFORMS, SELLERS

            known = {e.code for e in sim.enterprises}
            for parties, party_role in ((PLATFORMS, EnterpriseRole.PLATFORM), (SELLERS, EnterpriseRole.IMPORTER),
                                        (LOGISTICS, EnterpriseRole.LOGISTICS)):
                for code, name in parties:
                    if code not in known:
                        create_enterprise(s, EnterpriseIn(code=code, name=name, roles=[party_role],
                                                          credit_grade=CBEC_GRADES.get(code, CreditGrade.GENERAL)),
                                          SYSTEM)
            from smartcustoms.cbec.simulate import sender_codes
            from smartcustoms.enterprises.schemas import SenderCodeIn
            from smartcustoms.enterprises.sender_codes import register_sender_code

            for platform_code, _name in PLATFORMS:  # a platform sends all four documents of its parcels
                for code, kind in sender_codes():
                    if kind != "ebp":
                        register_sender_code(s, platform_code, SenderCodeIn(code=code, kind=kind), SYSTEM)
            for declarant, importer in sim.mandates:  # the brokers lodge for their importers
                create_mandate(s, MandateIn(declarant_code=declarant, importer_code=importer,
                                            valid_from=datetime(2020, 1, 1)), SYSTEM)
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
        replay_demo_history(platform, sim, declarations, now, progress)
    if parcels:
        task = progress.add_task(f"clearing {parcels:,} simulated CBEC parcels", total=None) if progress else None
        load_demo_parcels(platform, parcels, seed)
        if progress is not None and task is not None:
            progress.update(task, total=1, completed=1)
    if declarations:  # synthetic X-ray scans of held declarations for the image review queue (once)
        from smartcustoms.simulate.demo_scans import load_demo_scans

        load_demo_scans(platform, seed=seed)
    keys = {}
    with transaction(platform.sessions) as s:
        for name in s.scalars(select(User.username).order_by(User.id)):
            keys[name] = create_api_key(s, name, "demo")
        trader_ent = cast(str, s.scalar(select(Enterprise.code).join(User, User.enterprise_id == Enterprise.id)
                                        .where(User.username == "trader1")))  # trader1 is seeded with one
    example = sim.generate(1, now - timedelta(minutes=2), now - timedelta(minutes=1))[0].payload
    example["importer_code"] = trader_ent
    brokers = {importer: declarant for declarant, importer in sim.mandates}
    if trader_ent in brokers:  # the importer's own broker, who holds its mandate
        example["declarant_code"] = brokers[trader_ent]
    example["client_message_id"] = f"demo-{now:%Y%m%d%H%M%S}"
    if example_path is not None:
        example_path.parent.mkdir(parents=True, exist_ok=True)
        example_path.write_text(json.dumps(example, indent=2, ensure_ascii=False))
    return DemoAccess(keys, trader_ent, example)
