"""Wiring: one object holding the engine, code lists, tables and domain services of a deployment."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from smartcustoms.codes import CodeLists, code_lists
from smartcustoms.core.config import Settings, get_settings
from smartcustoms.core.db import dispose_engine, make_engine, session_factory, upgrade
from smartcustoms.core.security import set_password_cost
from smartcustoms.declarations.batcher import LodgeBatcher
from smartcustoms.declarations.service import DeclarationService, Selectivity
from smartcustoms.tax.service import (
    ExchangeRates,
    TariffTable,
    load_exchange_rates,
    load_tariff,
    replace_tariff,
    tariff_from_db,
)

if TYPE_CHECKING:
    from smartcustoms.inspection.service import InspectionService
    from smartcustoms.risk.selectivity import RiskEngine


@dataclass
class Platform:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    codes: CodeLists
    tariff: TariffTable
    rates: ExchangeRates
    declarations: DeclarationService
    risk: RiskEngine
    inspections: InspectionService
    lodging: LodgeBatcher
    #: called after the rule table changed (the CBEC writer of this process re-reads its parcel rules)
    rule_listeners: list[Callable[[], None]] = field(default_factory=list)

    def rules_changed(self) -> None:
        """The live engines match with the new rule set at once."""
        with self.sessions() as s:
            self.risk.reload_rules(s)
        for listener in self.rule_listeners:
            listener()

    def set_selectivity(self, selectivity: Selectivity | None) -> None:
        self.declarations.selectivity = selectivity

    def warm_up(self) -> bool:
        """Before serving: rehearse one lodgement (rolled back, nothing stored) and start the lodging worker.

        False when the rehearsal could not run (the warm-up is an optimisation: a server starts anyway).
        """
        from datetime import timedelta

        from smartcustoms.declarations.schemas import DeclarationIn
        from smartcustoms.simulate import DeclarationSimulator

        self.lodging.start()
        now = self.declarations.clock()
        try:
            sim = DeclarationSimulator(0).generate(1, now - timedelta(minutes=2), now - timedelta(minutes=1))[0]
            return self.declarations.warm_up(DeclarationIn.model_validate(sim.payload))
        except Exception:  # noqa: BLE001 - logged, not fatal
            logging.getLogger(__name__).warning("lodging warm-up failed", exc_info=True)
            return False

    def close(self) -> None:
        self.lodging.close()
        dispose_engine(self.engine)


def _owner_only(url: str) -> None:
    """An SQLite database file (and its -wal, -shm) readable by its owner only (mode 0600)."""
    if not url.startswith("sqlite"):
        return
    from sqlalchemy.engine import make_url

    path = make_url(url).database
    if not path or path == ":memory:" or path.startswith("file:"):
        return
    for name in (path, path + "-wal", path + "-shm"):
        with contextlib.suppress(OSError):  # not there (yet) or not ours; SQLite makes -wal/-shm like the file
            os.chmod(name, 0o600)


def build_platform(settings: Settings | None = None, *, migrate: bool = True,
                   database_url: str | None = None) -> Platform:
    """Connect, migrate (all Alembic heads) and build the services."""
    settings = settings or get_settings()
    set_password_cost(settings.password_scrypt_n)
    url = database_url or settings.resolved_database_url()
    if migrate:
        upgrade(url)
    _owner_only(url)
    engine = make_engine(url, background_checkpoint=True)
    sessions = session_factory(engine)
    codes = code_lists()
    with sessions() as session, session.begin():
        tariff = tariff_from_db(session)
        if not tariff.lines:  # first start: seed from SMARTCUSTOMS_TARIFF_CSV or the demo table
            tariff = load_tariff(settings.tariff_csv)
            replace_tariff(session, list(tariff.lines.values()))
    rates = load_exchange_rates()
    from smartcustoms.inspection.service import InspectionService
    from smartcustoms.risk.selectivity import RiskEngine, SelectivityConfig

    config = SelectivityConfig(budget=settings.risk_budget, exploration=settings.risk_exploration,
                               ranking=settings.risk_ranking)
    from smartcustoms.core.security import load_or_create_secret

    # the random controls are a keyed hash of each declaration: re-deciding it draws the same, unpredictably
    draw_secret = settings.risk_secret or load_or_create_secret(settings.data_dir / "risk-secret")
    risk = RiskEngine(sessions, tariff, config, draw_key=draw_secret.encode()).load()
    service = DeclarationService(sessions, codes, tariff, rates, selectivity=risk)
    return Platform(settings, engine, sessions, codes, tariff, rates, service, risk,
                    InspectionService(service, risk), LodgeBatcher(service))
