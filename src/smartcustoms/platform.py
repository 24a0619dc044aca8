"""The composition root: the one place that builds a deployment's engine, code lists, tables and services.

Work that crosses domains is wired here as listeners, so no domain service calls another domain upward:
an inspection result reaches the risk history (:func:`_feed_risk`), a rule change reaches the CBEC writer
(``rule_listeners``). Periodic work of the serving process (overdue CBEC inventories) is listed by
:meth:`Platform.periodic_jobs` and run by the web app's :class:`~smartcustoms.core.scheduler.Scheduler`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import MetaData
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from smartcustoms.codes import CodeLists, code_lists
from smartcustoms.core.config import CbecSettings, Settings, get_settings
from smartcustoms.core.db import Base, dispose_engine, make_engine, session_factory, upgrade
from smartcustoms.core.scheduler import Job
from smartcustoms.core.security import set_password_cost
from smartcustoms.declarations.batcher import LodgeBatcher
from smartcustoms.declarations.service import DeclarationService, Selectivity, rehearsal_sample
from smartcustoms.tax.service import (
    ExchangeRates,
    TariffTable,
    load_exchange_rates,
    load_tariff,
    replace_tariff,
    tariff_from_db,
)

if TYPE_CHECKING:  # imported when a platform is built: a CLI command that needs none of them loads none
    from smartcustoms.cbec.service import CbecService
    from smartcustoms.declarations.documents.service import DocumentService
    from smartcustoms.inspection.images.service import ImageService, ImageVerdict
    from smartcustoms.inspection.service import InspectionService
    from smartcustoms.manifests.service import ManifestService
    from smartcustoms.notices.service import NoticeService
    from smartcustoms.risk.parcels.model import ParcelResult
    from smartcustoms.risk.targeting.selectivity import RiskEngine

log = logging.getLogger(__name__)


@dataclass
class Platform:
    """One deployment: its database, code lists, tables and domain services."""

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
    #: the users' inboxes (notices produced from declaration events by a listener wired in build_platform)
    notices: NoticeService
    #: documents attached to declarations (files under the data directory, by hash)
    documents: DocumentService
    #: the CBEC writer's settings (read when the platform is built; the writer itself is built on first use)
    cbec_settings: CbecSettings = field(default_factory=CbecSettings)
    #: called after the rule table changed (the CBEC writer of this process re-reads its parcel rules)
    rule_listeners: list[Callable[[], None]] = field(default_factory=list)
    _cbec: CbecService | None = field(default=None, init=False, repr=False)
    _cbec_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _manifests: ManifestService | None = field(default=None, init=False, repr=False)
    #: called with each verdict on a scan image (inspection.images.service.ImageVerdict)
    image_verdict_listeners: list[Callable[[ImageVerdict], None]] = field(default_factory=list)
    _images: ImageService | None = field(default=None, init=False, repr=False)
    _images_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def rules_changed(self) -> None:
        """The live engines match with the new rule set at once."""
        with self.sessions() as s:
            self.risk.reload_rules(s)
        for listener in list(self.rule_listeners):
            listener()

    def set_selectivity(self, selectivity: Selectivity | None) -> None:
        """Route lodgements through ``selectivity`` (None: no lanes assigned)."""
        self.declarations.selectivity = selectivity

    @property
    def cbec(self) -> CbecService:
        """The process's single CBEC writer, built on first use (two first requests at once build one).

        Not built with the platform: it opens the writer's message log, which a CLI command such as
        ``cbec ingest`` (its own writer) must find free.
        """
        svc = self._cbec
        if svc is None:
            with self._cbec_lock:
                svc = self._cbec
                if svc is None:
                    from smartcustoms.cbec.service import CbecService

                    svc = CbecService(self.engine.url.render_as_string(hide_password=False), self.cbec_settings)
                    self.rule_listeners.append(svc.refresh_rules)
                    self._cbec = svc
        return svc

    @property
    def manifests(self) -> ManifestService:
        """The manifests service (built on first use: commands that file no manifest load none of it)."""
        if self._manifests is None:
            from smartcustoms.manifests import registry
            from smartcustoms.manifests.service import ManifestService

            svc = ManifestService(self.sessions)
            svc.explore_rate = registry.ManifestModelSettings().explore_rate
            # the pre-loading model: the registry's live one, else one saved under data_dir (bench/manifests.py
            # --save-model), else the rules alone
            registry.refresh(svc, self.sessions, self.settings.data_dir / registry.MODEL_FILE)
            self._manifests = svc
            from smartcustoms.manifests.notices import ManifestNotices

            self._manifests.event_listeners.append(ManifestNotices())  # the filers' inbox hears of referrals
        return self._manifests

    @property
    def images(self) -> ImageService:
        """The scan image service, built on first use (it loads the image model, when one is installed)."""
        with self._images_lock:
            if self._images is None:
                from smartcustoms.cbec.scan_subjects import ParcelSubjects, ParcelVerdicts
                from smartcustoms.inspection.images.service import ImageService, load_model
                from smartcustoms.manifests.scan_subjects import ManifestLineSubjects, ManifestLineVerdicts

                resolvers = {"parcel": ParcelSubjects(self.sessions, lambda: self.cbec),
                             "manifest_line": ManifestLineSubjects(self.sessions)}
                # officers' verdicts on scans: a declaration's became its inspection result already (the risk
                # history heard it); a held parcel's becomes its officer result, a manifest line's a step of
                # its open request for screening
                self.image_verdict_listeners += [ParcelVerdicts(self.sessions, lambda: self.cbec),
                                                 ManifestLineVerdicts(self.sessions, lambda: self.manifests)]
                self._images = ImageService.from_settings(
                    self.declarations, self.inspections, self.settings, model=load_model(), resolvers=resolvers,
                    listeners=self.image_verdict_listeners)
            return self._images

    def close_cbec(self) -> None:
        """Close the CBEC writer if it was built (its log and connection are let go); the next use builds anew."""
        with self._cbec_lock:
            svc, self._cbec = self._cbec, None
            if svc is not None:
                with contextlib.suppress(ValueError):
                    self.rule_listeners.remove(svc.refresh_rules)
                svc.close()

    def expire_cbec(self) -> int:
        """Report the inventories still incomplete after the deadline (CEB622 100); how many receipts.

        Does nothing when the CBEC writer was not built in this process (then no inventory waits in it).
        """
        with self._cbec_lock:
            svc = self._cbec
            return len(svc.expire()) if svc is not None else 0

    def parcel_results(self) -> list[ParcelResult]:
        """Officers' parcel results, each with the parcel's features when decided and its selection probability
        (training data of the parcel model; read under the CBEC writer's lock: the writer waits meanwhile)."""
        from smartcustoms.cbec.parcel_results import recorded_results
        from smartcustoms.risk.targeting.policy import SelectivityConfig

        svc = self.cbec
        s = self.cbec_settings
        config = getattr(svc.engine.selectivity, "config", None) or SelectivityConfig(
            budget=s.risk_budget, exploration=s.risk_exploration, seed=s.risk_seed)
        with svc.lock:
            return recorded_results(svc.store, svc.engine.log, config)

    def periodic_jobs(self) -> list[Job]:
        """The periodic work of the serving process (run by the web app's scheduler)."""
        from smartcustoms.manifests.reconcile import ReconcileSettings
        from smartcustoms.manifests.registry import ManifestModelSettings

        model = ManifestModelSettings()
        jobs = [Job("cbec-overdue-inventories", self.cbec_settings.expire_every_s, self.expire_cbec),
                Job("manifests-reconcile", ReconcileSettings().reconcile_every_s, lambda: self.manifests.reconcile()),
                Job("manifests-model", model.refresh_s, self.refresh_manifest_model)]
        if model.retrain_hours > 0:  # a candidate from the decided referrals, never promoted by the job
            jobs.append(Job("manifests-model-retrain", model.retrain_hours * 3600, self.retrain_manifest_model))
        return jobs

    def retrain_manifest_model(self) -> None:
        """Train a manifest-model candidate from the decided referrals and record it (not promoted)."""
        from smartcustoms.core.security import SYSTEM
        from smartcustoms.manifests import registry

        registry.retrain(self.sessions, SYSTEM, settings=self.manifests.settings)

    def refresh_manifest_model(self) -> None:
        """Let the pre-loading assessment use the manifest model promoted (or rolled back to) since it last
        looked (the registry's live one, else the file, else rules only)."""
        from smartcustoms.manifests import registry

        registry.refresh(self.manifests, self.sessions, self.settings.data_dir / registry.MODEL_FILE)

    def warm_up(self) -> bool:
        """Before serving: rehearse one lodgement (rolled back, nothing stored) and start the lodging worker.

        False when the rehearsal could not run (the warm-up is an optimisation: a server starts anyway).
        """
        self.lodging.start()
        now = self.declarations.clock()
        try:
            return self.declarations.warm_up(rehearsal_sample(self.codes, self.tariff, now - timedelta(minutes=1)))
        except Exception:  # noqa: BLE001 - logged, not fatal
            log.warning("lodging warm-up failed", exc_info=True)
            return False

    def close(self) -> None:
        """Stop the lodging worker, close the CBEC writer and the database connections."""
        self.lodging.close()
        self.close_cbec()
        dispose_engine(self.engine)


def all_tables() -> MetaData:
    """The metadata of every domain's tables (migrations and schema checks compare the database with it)."""
    import smartcustoms.audit.models
    import smartcustoms.cbec.models
    import smartcustoms.declarations.documents.models
    import smartcustoms.declarations.models
    import smartcustoms.enterprises.models
    import smartcustoms.inspection.images.models
    import smartcustoms.inspection.models
    import smartcustoms.manifests.models
    import smartcustoms.notices.models
    import smartcustoms.risk.targeting.models
    import smartcustoms.tax.models  # noqa: F401 - each import registers its tables on Base.metadata

    return Base.metadata


def _feed_risk(sessions: sessionmaker[Session], risk: RiskEngine) -> Callable[[int], None]:
    """An inspection-result listener: the declaration's labelled items enter the risk history at once."""
    from smartcustoms.risk.targeting.service import labelled_frame

    def observe(declaration_id: int) -> None:
        with sessions() as session:
            frame = labelled_frame(session, [declaration_id])
        risk.observe_outcomes(frame)

    return observe


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
    from smartcustoms.core.security import load_or_create_secret
    from smartcustoms.inspection.service import InspectionService
    from smartcustoms.risk.targeting.selectivity import RiskEngine, SelectivityConfig

    config = SelectivityConfig(budget=settings.risk_budget, exploration=settings.risk_exploration,
                               ranking=settings.risk_ranking)
    # the random controls are a keyed hash of each declaration: re-deciding it draws the same, unpredictably
    draw_secret = settings.risk_secret or load_or_create_secret(settings.data_dir / "risk-secret")
    risk = RiskEngine(sessions, tariff, config, draw_key=draw_secret.encode()).load()
    service = DeclarationService(sessions, codes, tariff, rates, selectivity=risk)
    inspections = InspectionService(service, listeners=[_feed_risk(sessions, risk)])
    from smartcustoms.declarations.documents.service import DocumentService
    from smartcustoms.declarations.notices import DeclarationNotices, english
    from smartcustoms.manifests.notices import english as manifest_english
    from smartcustoms.notices.service import NoticeService

    notices = NoticeService(sessions, render=lambda code, p: manifest_english(code, p) or english(code, p))
    service.event_listeners.append(DeclarationNotices())  # the inbox hears of declaration events
    return Platform(settings, engine, sessions, codes, tariff, rates, service, risk, inspections,
                    LodgeBatcher(service), notices=notices, documents=DocumentService.from_settings(service, settings))
