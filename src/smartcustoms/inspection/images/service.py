"""Scan images: upload (DICOS/PNG/TIFF), storage by hash, the model's assessment, routing, officer review, TIP.

* An upload is read (``dicos.py``), its file kept in the image store under its SHA-256 (with a DICOS DX
  copy when it came as PNG/TIFF or as two files), and the model assesses it against the subject's declared
  goods. Below the review threshold and consistent with the goods: auto-cleared (audited as the system);
  otherwise a review job in the officers' queue.
* Threat image projection: a share of review jobs (``images_tip_share``) is shown with a library threat
  projected in (``tip.py``). The officer cannot tell; the decision on such a presentation is scored (hit: a
  threat call with a region marked on the projected threat; false location: a threat call marked elsewhere or
  not at all; miss: cleared), revealed in the answer with where the threat was, and the job returns to the
  queue for its real review without the threat.
* An officer's real decision becomes the declaration's inspection result through the inspection service
  (so the risk history learns it), and every verdict is published to the registered listeners (parcels and
  manifest lines are other domains': the platform wires what hears them).

Every table is append-only; where an image stands is derived from its rows.
"""

from __future__ import annotations

import hashlib
import io
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

import numpy as np
from sqlalchemy import and_, exists, insert, select
from sqlalchemy.orm import Session

from smartcustoms.audit.service import record
from smartcustoms.core.config import Settings
from smartcustoms.core.errors import Conflict, FieldError, Forbidden, NotFound, ValidationProblem
from smartcustoms.core.security import SYSTEM, Principal, Role
from smartcustoms.declarations.documents.storage import DocumentStore, StoredContentMissing, store_for
from smartcustoms.declarations.models import GoodsItem
from smartcustoms.declarations.service import DeclarationService
from smartcustoms.inspection.images import dicos
from smartcustoms.inspection.images.models import (
    ImageAssessment,
    ImageReview,
    ImageThreatMark,
    ScanImageRecord,
    TipProjection,
)
from smartcustoms.inspection.images.schemas import (
    SUBJECT_KINDS,
    AssessmentOut,
    Box,
    BoxOut,
    DeclaredGoods,
    ImageOut,
    ReviewIn,
    ReviewJobOut,
    ReviewOut,
    ReviewResultOut,
    ScanImage,
    ScanSubject,
    ThreatMarkIn,
    ThreatMarkOut,
    TipOfficerOut,
)
from smartcustoms.inspection.images.tip import place_threat, threat_library, tip_outcome
from smartcustoms.inspection.schemas import InspectionResultIn
from smartcustoms.inspection.service import InspectionService

READERS = (Role.OFFICER, Role.ANALYST)  # see scans, the queue and the model's reading
UPLOADERS = (Role.OFFICER,)  # scanner integrations use an officer's (scanner operator's) API key
REVIEWERS = (Role.OFFICER,)
TIP_READERS = (Role.ANALYST, Role.ADMIN)  # quality control of officers: supervisors, not the officers themselves
_SUBJECT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}$")
PREVIOUS_SCANNED = 200  # an importer's latest images searched for the same goods


class ImageAssessmentLike(Protocol):
    """What the image model returns (``model.ImageAssessment``)."""

    @property
    def anomaly_score(self) -> float:
        """0..1, higher = more likely a concealment or undeclared goods."""
        ...

    @property
    def heatmap(self) -> np.ndarray:
        """float32 HxW in 0..1, the size of the image."""
        ...

    @property
    def consistent(self) -> bool:
        """Whether the image fits the declared goods."""
        ...

    @property
    def consistency_reasons(self) -> list[str]:
        """Why it does or does not fit, in words."""
        ...

    @property
    def model_version(self) -> str:
        """The model's version."""
        ...


class ImageModel(Protocol):
    """The image model's contract (``model.py``): assess a scan against the declared goods."""

    def assess(self, image: ScanImage, declared: Sequence[DeclaredGoods]) -> ImageAssessmentLike:
        """The model's reading of ``image`` given the ``declared`` goods."""
        ...


class SubjectResolver(Protocol):
    """Finds what a scan is of (office, importer, declared goods); None when there is no such subject."""

    def resolve(self, who: Principal, subject_id: str) -> ScanSubject | None:
        """The subject ``subject_id`` as ``who`` may see it, or None."""
        ...


@dataclass(frozen=True)
class ImageVerdict:
    """A verdict on an image, published to listeners (the officer's, or the machine's auto-clearance)."""

    image_id: int
    subject_kind: str
    subject_id: str
    verdict: Literal["clear", "threat"]
    decided_by: str  # officer username, or "system" for an auto-clearance
    decision: str  # a review decision, or "auto_cleared"
    at: datetime


VerdictListener = Callable[[ImageVerdict], None]


class DeclarationSubjects:
    """Declarations as scan subjects: office, importer and goods items (declarations are a lower layer)."""

    def __init__(self, declarations: DeclarationService) -> None:
        self.declarations = declarations

    def resolve(self, who: Principal, subject_id: str) -> ScanSubject | None:
        """The declaration ``subject_id`` with its goods (gross mass shared by net mass), None if absent."""
        svc = self.declarations
        with svc.sessions() as session:
            try:
                decl = svc.load_visible(session, who, subject_id)
            except NotFound:
                return None
            items = session.scalars(select(GoodsItem).where(GoodsItem.declaration_id == decl.id)
                                    .order_by(GoodsItem.item_no)).all()
            total_net = float(sum(i.net_mass_kg for i in items)) or 1.0
            goods = [DeclaredGoods(
                hs_code=i.hs_code, description=i.description, quantity=float(i.quantity), unit=i.unit,
                gross_kg=float(decl.gross_mass_kg) * float(i.net_mass_kg) / total_net, net_kg=float(i.net_mass_kg),
                packages=decl.packages if len(items) == 1 else None) for i in items]
            return ScanSubject("declaration", subject_id, decl.office_code, goods, decl.importer_code)


class ImageService:
    """Scan images of declarations, parcels and manifest lines: upload, assess, route, review, TIP."""

    def __init__(self, declarations: DeclarationService, inspections: InspectionService, store: DocumentStore,
                 settings: Settings, model: ImageModel | None = None,
                 resolvers: dict[str, SubjectResolver] | None = None,
                 listeners: Iterable[VerdictListener] = (), rng: np.random.Generator | None = None) -> None:
        self.declarations = declarations
        self.sessions = declarations.sessions
        self.clock = declarations.clock
        self.inspections = inspections
        self.store = store
        self.model = model
        # the setting, else the threshold the model was calibrated with (its training report), else 0.5
        threshold = settings.images_review_threshold
        self.threshold = float(threshold if threshold is not None else getattr(model, "review_threshold", 0.5))
        self.tip_share = settings.images_tip_share
        self.max_bytes = settings.max_image_bytes
        self.resolvers: dict[str, SubjectResolver] = {"declaration": DeclarationSubjects(declarations),
                                                      **(resolvers or {})}
        # a list passed in is kept (not copied): listeners added to it later are heard too (the platform's)
        self.listeners: list[VerdictListener] = listeners if isinstance(listeners, list) else list(listeners)
        self.rng = rng if rng is not None else np.random.default_rng()  # OS entropy: officers cannot predict TIP
        if not 0.0 <= self.tip_share <= 1.0:
            raise ValueError("images_tip_share must be within 0..1")
        if not 0.0 < self.threshold <= 1.0:
            raise ValueError("images_review_threshold must be within (0, 1]")

    @classmethod
    def from_settings(cls, declarations: DeclarationService, inspections: InspectionService, settings: Settings,
                      **kwargs: object) -> ImageService:
        """The service with its files under ``images_dir`` (default ``<data_dir>/images``), or in the object store
        when ``object_store_url`` is set."""
        root = settings.images_dir or settings.data_dir / "images"
        return cls(declarations, inspections, store_for(settings, "images", root), settings,
                   **kwargs)  # type: ignore[arg-type]

    # -- upload -----------------------------------------------------------------------------------------------
    def upload(self, who: Principal, data: bytes, subject_kind: str, subject_id: str,
               low_energy: bytes | None = None) -> ImageOut:
        """Keep a scan of a subject, assess it and route it (auto-cleared or to the review queue)."""
        _need(who, UPLOADERS, "only customs officers (scanner operators) upload scans")
        if subject_kind not in SUBJECT_KINDS:
            raise ValidationProblem(f"unknown subject kind {subject_kind!r}", [FieldError(
                "subject_kind", f"one of {', '.join(SUBJECT_KINDS)}")], title="The scan image is not accepted")
        if not _SUBJECT_ID.match(subject_id):
            raise ValidationProblem("the subject id is not valid", [FieldError(
                "subject_id", "1 to 64 letters, digits and . _ : / -, starting with a letter or digit")],
                title="The scan image is not accepted")
        for name, blob in (("file", data), ("low_energy_file", low_energy)):
            if blob is not None and len(blob) > self.max_bytes:
                raise dicos.ImageRefused(f"larger than {self.max_bytes:,} bytes", field=name, status=413)
        read = dicos.read_scan(data) if low_energy is None else dicos.read_dual(data, low_energy)
        resolver = self.resolvers.get(subject_kind)
        if resolver is None:
            raise ValidationProblem(f"this deployment does not look up {subject_kind} subjects", [FieldError(
                "subject_kind", f"no {subject_kind} lookup is configured")], title="The scan image is not accepted")
        subject = resolver.resolve(who, subject_id)
        if subject is None:
            raise ValidationProblem(f"no {subject_kind} {subject_id}", [FieldError(
                "subject_id", f"no {subject_kind} {subject_id}")], title="The scan image is not accepted")
        image = read.image
        sha = hashlib.sha256(data).hexdigest()
        self.store.put(sha, data)
        low_sha = None
        if low_energy is not None:
            low_sha = hashlib.sha256(low_energy).hexdigest()
            self.store.put(low_sha, low_energy)
        if read.source_format == "dicos" and low_energy is None and read.sop_instance_uid:
            dicos_sha, sop_uid = sha, read.sop_instance_uid
            sop_class = read.sop_class_uid or dicos.DICOS_DX_PRESENTATION
        else:  # PNG/TIFF or two files: the DICOS DX the TDR will refer to
            dx, sop_uid = dicos.write_dx(image, f"{subject_kind}:{subject_id}")
            dicos_sha, sop_class = hashlib.sha256(dx).hexdigest(), dicos.DICOS_DX_PRESENTATION
            self.store.put(dicos_sha, dx)
        assessed = self._assess(image, subject)
        tip = self._tip(image) if assessed is None or assessed["routed"] == "review" else None
        now = self.clock()
        with self.sessions() as session, session.begin():
            image_id = session.execute(insert(ScanImageRecord).values(
                subject_kind=subject_kind, subject_id=subject_id, office=subject.office, importer=subject.importer,
                hs_codes=",".join(g.hs_code for g in subject.goods)[:400], modality=image.modality,
                source_format=read.source_format, dual_energy=image.dual_energy, width=image.shape[1],
                height=image.shape[0], pixel_mm=image.pixel_mm, sha256=sha, size_bytes=len(data),
                low_sha256=low_sha, dicos_sha256=dicos_sha, sop_instance_uid=sop_uid[:64],
                sop_class_uid=sop_class[:64], uploaded_by=who.username, uploaded_at=now)
                .returning(ScanImageRecord.id)).scalar_one()
            record(session, who, "image.upload", "image", str(image_id), {
                "subject_kind": subject_kind, "subject_id": subject_id, "sha256": sha, "size": len(data),
                "format": read.source_format})
            if assessed is not None:
                session.execute(insert(ImageAssessment).values(image_id=image_id, assessed_at=now, **assessed))
                record(session, SYSTEM, f"image.{assessed['routed']}", "image", str(image_id), {
                    "anomaly_score": round(assessed["anomaly_score"], 4), "consistent": assessed["consistent"],
                    "threshold": self.threshold, "model_version": assessed["model_version"]})
            if tip is not None:  # audited for the record; never shown to officers before their decision
                session.execute(insert(TipProjection).values(image_id=image_id, at=now, **tip))
                record(session, SYSTEM, "image.tip_projected", "image", str(image_id), {"threat": tip["threat"]})
        if assessed is not None and assessed["routed"] == "auto_cleared":
            self._publish(ImageVerdict(image_id, subject_kind, subject_id, "clear", SYSTEM.username,
                                       "auto_cleared", now))
        return self.get(who, image_id)

    def _assess(self, image: ScanImage, subject: ScanSubject) -> dict | None:
        """The assessment row's values (model reading, heat map stored, routing, TIP), None without a model."""
        if self.model is None:
            return None
        t0 = time.perf_counter()
        a = self.model.assess(image, list(subject.goods))
        seconds = time.perf_counter() - t0
        heat = np.clip(np.asarray(a.heatmap, dtype=np.float32), 0.0, 1.0)
        if heat.shape != image.shape:
            raise RuntimeError(f"the image model returned a {heat.shape} heat map for a {image.shape} image")
        heat_png = _png(np.rint(heat * 255).astype(np.uint8))
        heat_sha = hashlib.sha256(heat_png).hexdigest()
        self.store.put(heat_sha, heat_png)
        score = float(a.anomaly_score)
        region = suspect_region(heat)
        routed = "review" if score >= self.threshold or not a.consistent else "auto_cleared"
        values: dict = {
            "anomaly_score": score, "consistent": bool(a.consistent), "reasons": list(a.consistency_reasons)[:20],
            "model_version": str(a.model_version)[:64], "heatmap_sha256": heat_sha, "threshold": self.threshold,
            "routed": routed, "seconds": seconds,
            "region_top": region.top if region else None, "region_left": region.left if region else None,
            "region_height": region.height if region else None, "region_width": region.width if region else None}
        return values

    def _tip(self, image: ScanImage) -> dict | None:
        """A TIP projection for a review job, drawn with probability ``tip_share``: the threat, where, the file."""
        if self.tip_share <= 0 or self.rng.random() >= self.tip_share:
            return None
        names = sorted(threat_library(image.pixel_mm))
        name = names[int(self.rng.integers(len(names)))]
        projected, box = place_threat(image, name, self.rng)
        dx, _ = dicos.write_dx(projected, "tip")
        sha = hashlib.sha256(dx).hexdigest()
        self.store.put(sha, dx)
        return {"threat": name, "top": box.top, "left": box.left, "height": box.height, "width": box.width,
                "sha256": sha}

    # -- reading ----------------------------------------------------------------------------------------------
    def get(self, who: Principal, image_id: int) -> ImageOut:
        """One image's record, assessment and officers' (real) reviews."""
        _need(who, READERS + UPLOADERS, "only customs officers and analysts see scans")
        with self.sessions() as session:
            img, a, reviews = self._load(session, image_id)
            return _image_out(img, a, reviews, _marks(session, reviews))

    def scan(self, who: Principal, image_id: int) -> ScanImage:
        """The pixels an officer is shown: with the TIP threat while its presentation is pending."""
        _need(who, READERS, "only customs officers and analysts see scans")
        with self.sessions() as session:
            img, _, reviews = self._load(session, image_id)
            tip = self._pending_tip(session, image_id, reviews)
            sha = tip.sha256 if tip is not None else img.dicos_sha256
        try:
            data = self.store.get(sha)
        except StoredContentMissing:
            raise Conflict(f"the file of image {image_id} is missing from the image store") from None
        return dicos.read_scan(data).image

    def pixels_png(self, who: Principal, image_id: int, energy: Literal["high", "low", "material"] = "high",
                   contrast: float = 1.0, lo: float = 0.0, hi: float = 1.0) -> bytes:
        """An 8-bit grayscale PNG of the scan: the transmission window ``lo..hi`` stretched to black..white,
        gamma ``1/contrast``; ``material`` shows the dual-energy ratio ln(T_low)/ln(T_high) (0.5..2 as black..white)."""
        if not 0.0 <= lo < hi <= 1.0:
            raise ValidationProblem("the window is not valid", [FieldError("lo", "0 <= lo < hi <= 1")])
        if not 0.1 <= contrast <= 10.0:
            raise ValidationProblem("the contrast is not valid", [FieldError("contrast", "between 0.1 and 10")])
        image = self.scan(who, image_id)
        if energy == "material":
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = np.log(np.clip(image.low, 1e-6, 1.0)) / np.log(np.clip(image.high, 1e-6, 0.999999))
            v = np.clip((np.nan_to_num(ratio, nan=1.0) - 0.5) / 1.5, 0.0, 1.0)
        else:
            t = image.high if energy == "high" else image.low
            v = np.clip((t - lo) / (hi - lo), 0.0, 1.0) ** (1.0 / contrast)
        return _png(np.rint(v * 255).astype(np.uint8))

    def heatmap_png(self, who: Principal, image_id: int) -> bytes:
        """The model's heat map as an 8-bit grayscale PNG (255 = most suspect)."""
        _need(who, READERS, "only customs officers and analysts see scans")
        with self.sessions() as session:
            _, a, _ = self._load(session, image_id)
        if a is None:
            raise Conflict(f"image {image_id} has not been assessed by a model")
        try:
            return self.store.get(a.heatmap_sha256)
        except StoredContentMissing:
            raise Conflict(f"the heat map of image {image_id} is missing from the image store") from None

    def tdr(self, who: Principal, image_id: int) -> bytes:
        """A DICOS Threat Detection Report: the latest officer verdict (OPERATOR) or the model's (MACHINE)."""
        _need(who, READERS, "only customs officers and analysts see scans")
        with self.sessions() as session:
            img, a, reviews = self._load(session, image_id)
            real = [r for r in reviews if not r.tip]
            last = real[-1] if real else None
            marks = _marks(session, [last]).get(last.id, []) if last is not None else []
        if a is None and not real:
            raise Conflict(f"image {image_id} has neither an assessment nor a review to report")
        return dicos.write_tdr(dicos.TdrContent(
            referenced_sop_instance=img.sop_instance_uid, referenced_sop_class=img.sop_class_uid,
            object_id=f"{img.subject_kind}:{img.subject_id}", anomaly_score=a.anomaly_score if a else 0.0,
            alarm=a is not None and a.routed == "review", region=_region(a), pixel_mm=img.pixel_mm,
            algorithm=a.model_version if a else "none", officer=last.officer if last else None,
            officer_verdict=last.verdict if last else None, reasons=list(a.reasons) if a else [],
            operator_marks=[dicos.OperatorMark(m.category, Box(m.top, m.left, m.height, m.width)) for m in marks]))

    def subject(self, who: Principal, image_id: int) -> ScanSubject:
        """What the image is of, with the declared goods as they are now."""
        _need(who, READERS, "only customs officers and analysts see scans")
        with self.sessions() as session:
            img, _, _ = self._load(session, image_id)
        resolver = self.resolvers.get(img.subject_kind)
        found = resolver.resolve(who, img.subject_id) if resolver else None
        return found or ScanSubject(img.subject_kind, img.subject_id, img.office, [], img.importer)

    def previous(self, who: Principal, image_id: int, limit: int = 10) -> list[ImageOut]:
        """Earlier images of the same subject, or of the same importer with goods of a shared HS heading."""
        _need(who, READERS, "only customs officers and analysts see scans")
        with self.sessions() as session:
            img, _, _ = self._load(session, image_id)
            s = ScanImageRecord
            same_subject = and_(s.subject_kind == img.subject_kind, s.subject_id == img.subject_id)
            cond = same_subject if img.importer is None else (same_subject | (s.importer == img.importer))
            rows = session.scalars(select(s).where(cond, s.id < img.id)  # ids grow with uploads: earlier ones
                                   .order_by(s.id.desc()).limit(PREVIOUS_SCANNED)).all()
            headings = {h[:4] for h in img.hs_codes.split(",") if h}
            picked = [r for r in rows if (r.subject_kind, r.subject_id) == (img.subject_kind, img.subject_id)
                      or headings & {h[:4] for h in r.hs_codes.split(",") if h}][:limit]
            loaded = [self._load(session, r.id) for r in picked]
            return [_image_out(i, a, rv, _marks(session, rv)) for i, a, rv in loaded]

    def queue(self, who: Principal, office: str | None = None, limit: int = 50, offset: int = 0) -> list[ReviewJobOut]:
        """Images waiting for an officer (routed to review, or not assessed), oldest first."""
        _need(who, READERS, "only customs officers and analysts see the review queue")
        s, a, r = ScanImageRecord, ImageAssessment, ImageReview
        reviewed = exists().where(r.image_id == s.id, r.tip.is_(False))
        q = (select(s, a).outerjoin(a, a.image_id == s.id)
             .where(~reviewed, (a.id.is_(None)) | (a.routed == "review")))
        if office:
            q = q.where(s.office == office)
        with self.sessions() as session:
            rows = session.execute(q.order_by(s.uploaded_at, s.id).limit(limit).offset(offset)).all()
            return [ReviewJobOut(
                image_id=img.id, subject_kind=img.subject_kind, subject_id=img.subject_id,  # type: ignore[arg-type]
                office=img.office, anomaly_score=asm.anomaly_score if asm else None,
                consistent=asm.consistent if asm else None, reasons=list(asm.reasons) if asm else [],
                region=_box_out(_region(asm)), queued_at=img.uploaded_at) for img, asm in rows]

    # -- review -----------------------------------------------------------------------------------------------
    def review(self, who: Principal, image_id: int, body: ReviewIn) -> ReviewResultOut:
        """Record an officer's decision. On a pending TIP presentation it is only scored; otherwise a declaration's
        image becomes its inspection result and the verdict goes to the listeners."""
        _need(who, REVIEWERS, "only customs officers review scans")
        verdict: Literal["clear", "threat"] = "threat" if body.decision.endswith("threat") else "clear"
        with self.sessions() as session:
            img, a, reviews = self._load(session, image_id)
            machine = None if a is None else ("threat" if a.routed == "review" else "clear")
            pending = self._pending_tip(session, image_id, reviews)
            tip, tip_name = pending is not None, pending.threat if pending is not None else None
            tip_box = _tip_box(pending) if pending is not None else None
            kind, subject_id = img.subject_kind, img.subject_id
            width, height = img.width, img.height
        _check_marks(body.marks, width, height)
        if machine is not None:
            agrees = body.decision.startswith("confirm")
            if agrees != (verdict == machine):
                opposite = "clear" if machine == "threat" else "threat"
                other = f"confirm_{machine}" if not agrees else f"override_{opposite}"
                raise ValidationProblem(f"the machine called image {image_id} {machine}: "
                                        f"{body.decision} does not fit it", [FieldError(
                                            "decision", f"the machine called it {machine}: send {other} "
                                                        f"or {'override' if agrees else 'confirm'}_{verdict}")],
                                        title="The review is not valid")
        now = self.clock()
        if tip and tip_box is not None:
            outcome = tip_outcome(verdict, [Box(m.top, m.left, m.height, m.width) for m in body.marks], tip_box)
            with self.sessions() as session, session.begin():
                review_id = session.execute(insert(ImageReview).values(
                    image_id=image_id, at=now, officer=who.username, decision=body.decision, verdict=verdict,
                    reason=body.reason, offence_type=None, tip=True, tip_hit=outcome == "hit",
                    inspection_result=False).returning(ImageReview.id)).scalar_one()
                _insert_marks(session, image_id, review_id, body.marks)
                record(session, who, "image.tip_review", "image", str(image_id), {
                    "decision": body.decision, "threat": tip_name, "hit": outcome == "hit", "outcome": outcome,
                    "marks": [m.model_dump() for m in body.marks]})
            return ReviewResultOut(image_id=image_id, decision=body.decision, verdict=verdict, inspection_result=False,
                                   tip_feedback=outcome, tip_region=_box_out(tip_box),
                                   note="this was a threat image projection test; the scan is back in the queue "
                                        "without the projected threat for its real review")
        became, note = False, ""
        if kind == "declaration":
            words = f"X-ray image {image_id} reviewed: {verdict}. {body.reason}".strip()
            result = (InspectionResultIn(outcome="no_offence", notes=words[:2000]) if verdict == "clear" else
                      InspectionResultIn(outcome="offence", offence_type=body.offence_type or "prohibited",
                                         notes=words[:2000]))
            try:
                self.inspections.record(who, subject_id, result)
                became = True
            except (Conflict, NotFound) as exc:
                note = f"no inspection result recorded: {exc.detail}"
        with self.sessions() as session, session.begin():
            review_id = session.execute(insert(ImageReview).values(
                image_id=image_id, at=now, officer=who.username, decision=body.decision, verdict=verdict,
                reason=body.reason, offence_type=body.offence_type if verdict == "threat" else None, tip=False,
                tip_hit=None, inspection_result=became).returning(ImageReview.id)).scalar_one()
            _insert_marks(session, image_id, review_id, body.marks)
            record(session, who, "image.review", "image", str(image_id), {
                "decision": body.decision, "verdict": verdict, "subject_kind": kind, "subject_id": subject_id,
                "inspection_result": became, "reason": body.reason,
                "marks": [m.model_dump() for m in body.marks]})
        self._publish(ImageVerdict(image_id, kind, subject_id, verdict, who.username, body.decision, now))
        return ReviewResultOut(image_id=image_id, decision=body.decision, verdict=verdict, inspection_result=became,
                               note=note)

    def tip_officers(self, who: Principal) -> list[TipOfficerOut]:
        """Each officer's TIP record: projected threats shown, hits (a threat call with a region marked on the
        projected threat, ``tip.tip_outcome``), false locations, misses; and the false-alarm rate on real images
        found clean. Scored from the stored rows (decision, marks, the projection's box), so presentations
        decided before marks were compared are scored by the same rule."""
        _need(who, TIP_READERS, "only analysts and administrators see officers' TIP scores")
        r, p = ImageReview, TipProjection
        with self.sessions() as session:
            tips = session.execute(select(r.id, r.officer, r.verdict, p.top, p.left, p.height, p.width)
                                   .join(p, p.image_id == r.image_id).where(r.tip.is_(True))).all()
            marks: dict[int, list[Box]] = {}
            threat_ids = [t.id for t in tips if t.verdict == "threat"]
            for chunk in range(0, len(threat_ids), 500):
                for m in session.execute(select(ImageThreatMark.review_id, ImageThreatMark.top, ImageThreatMark.left,
                                                ImageThreatMark.height, ImageThreatMark.width)
                                         .where(ImageThreatMark.review_id.in_(threat_ids[chunk:chunk + 500]))):
                    marks.setdefault(m.review_id, []).append(Box(m.top, m.left, m.height, m.width))
            real = session.execute(select(r.image_id, r.officer, r.verdict).where(r.tip.is_(False))
                                   .order_by(r.image_id, r.at, r.id)).all()
        counts: dict[str, dict[str, int]] = {}
        for t in tips:
            outcome = tip_outcome(t.verdict, marks.get(t.id, []), Box(t.top, t.left, t.height, t.width))
            row = counts.setdefault(t.officer, {})
            row[outcome] = row.get(outcome, 0) + 1
        final = {x.image_id: x.verdict for x in real}  # ordered by time: the latest real review wins
        clean: dict[str, set[int]] = {}
        alarms: dict[str, set[int]] = {}
        for x in real:
            if final[x.image_id] == "clear":
                clean.setdefault(x.officer, set()).add(x.image_id)
                if x.verdict == "threat":
                    alarms.setdefault(x.officer, set()).add(x.image_id)
        out = []
        for officer in sorted(counts):
            c = counts[officer]
            shown = sum(c.values())
            n_clean, n_alarms = len(clean.get(officer, ())), len(alarms.get(officer, ()))
            out.append(TipOfficerOut(
                officer=officer, tip_jobs=shown, hits=c.get("hit", 0), false_locations=c.get("false_location", 0),
                misses=c.get("miss", 0), detection_rate=c.get("hit", 0) / shown if shown else None,
                clean_reviewed=n_clean, false_alarms=n_alarms,
                false_alarm_rate=n_alarms / n_clean if n_clean else None))
        return out

    # -- helpers ----------------------------------------------------------------------------------------------
    def _load(self, session: Session, image_id: int
              ) -> tuple[ScanImageRecord, ImageAssessment | None, list[ImageReview]]:
        img = session.get(ScanImageRecord, image_id)
        if img is None:
            raise NotFound(f"no image {image_id}")
        a = session.scalar(select(ImageAssessment).where(ImageAssessment.image_id == image_id))
        reviews = list(session.scalars(select(ImageReview).where(ImageReview.image_id == image_id)
                                       .order_by(ImageReview.at, ImageReview.id)))
        return img, a, reviews

    def _pending_tip(self, session: Session, image_id: int, reviews: Sequence[ImageReview]) -> TipProjection | None:
        """The image's TIP projection while no decision on it was made (then the officer sees the threat)."""
        if any(r.tip for r in reviews):
            return None
        return session.scalar(select(TipProjection).where(TipProjection.image_id == image_id))

    def _publish(self, verdict: ImageVerdict) -> None:
        for listener in self.listeners:
            listener(verdict)


def _need(who: Principal, roles: tuple[Role, ...], message: str) -> None:
    if who.role not in roles:
        raise Forbidden(message)


def _check_marks(marks: Sequence[ThreatMarkIn], width: int, height: int) -> None:
    """Each marked region lies inside the ``width`` x ``height`` image (422 naming ``marks[i]`` otherwise)."""
    errors = [FieldError(f"marks[{i}]", f"the region {m.left},{m.top} {m.width}x{m.height} (x,y wxh) is not inside "
                                       f"the {width}x{height} image")
              for i, m in enumerate(marks) if m.left + m.width > width or m.top + m.height > height]
    if errors:
        raise ValidationProblem("a marked threat region lies outside the image", errors,
                                title="The review is not valid")


def _insert_marks(session: Session, image_id: int, review_id: int, marks: Sequence[ThreatMarkIn]) -> None:
    if marks:
        session.execute(insert(ImageThreatMark), [
            {"review_id": review_id, "image_id": image_id, **m.model_dump()} for m in marks])


def _marks(session: Session, reviews: Sequence[ImageReview]) -> dict[int, list[ImageThreatMark]]:
    """The threat regions marked with each of ``reviews``, by review id, in the order they were sent."""
    ids = [r.id for r in reviews]
    out: dict[int, list[ImageThreatMark]] = {i: [] for i in ids}
    if ids:
        for m in session.scalars(select(ImageThreatMark).where(ImageThreatMark.review_id.in_(ids))
                                 .order_by(ImageThreatMark.id)):
            out[m.review_id].append(m)
    return out


def _tip_box(p: TipProjection) -> Box:
    return Box(p.top, p.left, p.height, p.width)


def _region(a: ImageAssessment | None) -> Box | None:
    if a is None or a.region_top is None or a.region_left is None or a.region_height is None \
            or a.region_width is None:
        return None
    return Box(a.region_top, a.region_left, a.region_height, a.region_width)


def _box_out(b: Box | None) -> BoxOut | None:
    return None if b is None else BoxOut(top=b.top, left=b.left, height=b.height, width=b.width)


def _image_out(img: ScanImageRecord, a: ImageAssessment | None, reviews: Sequence[ImageReview],
               marks: dict[int, list[ImageThreatMark]] | None = None) -> ImageOut:
    real = [r for r in reviews if not r.tip]  # TIP presentations stay out of the record (they would reveal TIP)
    status = ("reviewed" if real else "unassessed" if a is None else
              "auto_cleared" if a.routed == "auto_cleared" else "awaiting_review")
    assessment = None if a is None else AssessmentOut(
        anomaly_score=a.anomaly_score, consistent=a.consistent, reasons=list(a.reasons),
        model_version=a.model_version, region=_box_out(_region(a)), routed=a.routed,  # type: ignore[arg-type]
        threshold=a.threshold, assessed_at=a.assessed_at)
    return ImageOut(
        id=img.id, subject_kind=img.subject_kind, subject_id=img.subject_id, office=img.office,  # type: ignore[arg-type]
        modality=img.modality, source_format=img.source_format, dual_energy=img.dual_energy,  # type: ignore[arg-type]
        width=img.width, height=img.height, pixel_mm=img.pixel_mm, sha256=img.sha256, size_bytes=img.size_bytes,
        uploaded_by=img.uploaded_by, uploaded_at=img.uploaded_at, assessment=assessment,
        reviews=[ReviewOut(officer=r.officer, decision=r.decision, verdict=r.verdict,  # type: ignore[arg-type]
                           reason=r.reason, at=r.at, marks=[ThreatMarkOut(
                               category=m.category, top=m.top, left=m.left,  # type: ignore[arg-type]
                               height=m.height, width=m.width) for m in (marks or {}).get(r.id, [])])
                 for r in real], status=status)


def _png(gray: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(gray, mode="L").save(buf, format="PNG", compress_level=3)
    return buf.getvalue()


def suspect_region(heat: np.ndarray, floor: float = 0.3, max_side: int = 256) -> Box | None:
    """The bounding box of the heat map's hottest blob: the connected pixels around the peak that are at least
    half the peak; None when the peak is below ``floor``. Found on a copy at most ``max_side`` a side."""
    peak = float(heat.max()) if heat.size else 0.0
    if peak < floor:
        return None
    h, w = heat.shape
    step = max(1, -(-max(h, w) // max_side))
    small = heat[::step, ::step]
    mask = small >= 0.5 * peak
    seed = np.unravel_index(int(np.argmax(small)), small.shape)
    grown = np.zeros_like(mask)
    grown[seed] = True
    while True:
        d = grown.copy()
        d[1:, :] |= grown[:-1, :]
        d[:-1, :] |= grown[1:, :]
        d[:, 1:] |= grown[:, :-1]
        d[:, :-1] |= grown[:, 1:]
        d &= mask
        if np.array_equal(d, grown):
            break
        grown = d
    rows, cols = np.nonzero(grown)
    top, left = int(rows.min()) * step, int(cols.min()) * step
    bottom, right = min(h, (int(rows.max()) + 1) * step), min(w, (int(cols.max()) + 1) * step)
    return Box(top, left, bottom - top, right - left)


def load_model() -> ImageModel | None:
    """The shipped image model (``model.py``, ONNX on onnxruntime), or None when it is not installed: then every
    image waits for an officer, unassessed (logged)."""
    import importlib
    import logging

    try:
        image_model = importlib.import_module("smartcustoms.inspection.images.model")
    except ImportError:
        logging.getLogger(__name__).warning("no image model installed: scans go to officers unassessed")
        return None
    loader = getattr(image_model, "load_default_model", None)
    if loader is None:
        logging.getLogger(__name__).warning("the image model module has no load_default_model()")
        return None
    try:
        return loader()  # type: ignore[no-any-return]
    except FileNotFoundError:
        logging.getLogger(__name__).warning("the image model file is missing: scans go to officers unassessed")
        return None
