"""The image service on SQLite and PostgreSQL: upload and hash, routing with the real model, review into an
inspection result, TIP scoring, append-only tables, roles (no stand-in model: the model parts need ``model.py``)."""

from __future__ import annotations

import hashlib
import importlib
import io

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import select, text

from smartcustoms.audit.service import entries
from smartcustoms.core.config import Settings
from smartcustoms.core.errors import Conflict, Forbidden, NotFound, ValidationProblem
from smartcustoms.declarations.lifecycle import Lane
from smartcustoms.declarations.service import LaneDecision
from smartcustoms.inspection.images import dicos
from smartcustoms.inspection.images.models import ImageReview, TipProjection
from smartcustoms.inspection.images.schemas import DeclaredGoods, ReviewIn, ScanImage, ThreatMarkIn
from smartcustoms.inspection.images.service import ImageService, ImageVerdict, load_model, suspect_region
from smartcustoms.inspection.models import InspectionResult
from smartcustoms.inspection.service import result_for
from tests.support import lodge


class RedLane:
    """Holds every declaration on the red lane, so the tests do not depend on the risk model."""

    def decide(self, session, batch):
        return [LaneDecision(Lane.RED, 0.9, ["test rule"], "rule") for _ in batch]


def held(client, world) -> str:
    world.platform.set_selectivity(RedLane())
    r = lodge(client, world)
    assert r.status_code == 201, r.text
    return r.json()["declaration_no"]


def service(world, tmp_path, *, model=None, threshold: float = 0.5, tip_share: float = 0.0, seed: int = 1,
            listeners=()) -> ImageService:
    settings = Settings(data_dir=tmp_path, images_review_threshold=threshold, images_tip_share=tip_share)
    p = world.platform
    return ImageService.from_settings(p.declarations, p.inspections, settings, model=model,
                                      rng=np.random.default_rng(seed), listeners=listeners)


def png(h: int = 64, w: int = 96) -> bytes:
    rng = np.random.default_rng(5)
    gray = rng.integers(120, 250, (h, w)).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(gray, mode="L").save(buf, format="PNG")
    return buf.getvalue()


def real_model():
    """IMG-C's served model, or a skip while it is not in the tree (never a stand-in)."""
    try:
        importlib.import_module("smartcustoms.inspection.images.model")
    except ImportError:
        pytest.skip("the image model (inspection/images/model.py) is not installed")
    model = load_model()
    if model is None:
        pytest.skip("the image model file is not present")
    return model


def scan_of_goods(concealment: str | None = None, seed: int = 3) -> tuple[bytes, list[DeclaredGoods]]:
    from smartcustoms.simulate.scans import render_scan  # tests may use the synthetic generator

    goods = [DeclaredGoods("6109100000", "cotton T-shirts", gross_kg=6000)]
    scan = render_scan(goods, seed=seed, concealment=concealment)
    return dicos.write_dx(scan.image, "test")[0], goods


@pytest.fixture
def client(world):
    from fastapi.testclient import TestClient

    from smartcustoms.web.app import create_app

    with TestClient(create_app(world.platform)) as c:
        yield c


def test_an_upload_is_stored_under_its_hash_and_audited(client, world, tmp_path):
    no = held(client, world)
    svc = service(world, tmp_path)
    data = png()
    out = svc.upload(world.principals["officer"], data, "declaration", no)
    assert out.sha256 == hashlib.sha256(data).hexdigest() and out.size_bytes == len(data)
    assert svc.store.get(out.sha256) == data  # the file itself, checked against its hash on reading
    assert (out.subject_kind, out.subject_id, out.office, out.source_format) == ("declaration", no, "2248", "png")
    assert (out.width, out.height, out.status, out.assessment) == (96, 64, "unassessed", None)
    with world.platform.sessions() as s:
        actions = [e.action for e in entries(s, object_type="image", object_id=str(out.id))]
    assert "image.upload" in actions
    # a PNG gets a DICOS DX copy the TDR refers to; the queue holds the unassessed image
    assert [j.image_id for j in svc.queue(world.principals["officer"])] == [out.id]
    with pytest.raises(Conflict):  # neither a model's nor an officer's verdict to report yet
        svc.tdr(world.principals["officer"], out.id)


def test_subjects_and_roles_are_checked(client, world, tmp_path):
    no = held(client, world)
    svc = service(world, tmp_path)
    officer, trader, analyst = (world.principals[u] for u in ("officer", "trader", "analyst"))
    with pytest.raises(Forbidden):
        svc.upload(trader, png(), "declaration", no)
    with pytest.raises(Forbidden):
        svc.upload(analyst, png(), "declaration", no)
    for kind, subject, field in [("declaration", "999999999999999999", "subject_id"), ("container", no, "subject_kind"),
                                 ("declaration", "../etc/passwd", "subject_id"), ("parcel", "SF1", "subject_kind")]:
        with pytest.raises(ValidationProblem) as e:
            svc.upload(officer, png(), kind, subject)
        assert e.value.errors[0].field == field
    out = svc.upload(officer, png(), "declaration", no)
    with pytest.raises(Forbidden):
        svc.get(trader, out.id)  # traders never see scans, not even of their own declarations
    assert svc.get(analyst, out.id).id == out.id
    with pytest.raises(Forbidden):
        svc.review(analyst, out.id, ReviewIn(decision="confirm_clear"))
    with pytest.raises(Forbidden):
        svc.tip_officers(world.principals["officer"])  # officers do not see each other's TIP scores
    with pytest.raises(NotFound):
        svc.get(officer, 10_000)


def test_a_review_of_a_declarations_image_becomes_its_inspection_result(client, world, tmp_path):
    no = held(client, world)
    heard: list[ImageVerdict] = []
    svc = service(world, tmp_path, listeners=[heard.append])
    officer = world.principals["officer"]
    out = svc.upload(officer, png(), "declaration", no)
    res = svc.review(officer, out.id, ReviewIn(decision="confirm_threat", reason="dense block behind the cartons",
                                               offence_type="prohibited"))
    assert res.inspection_result and res.verdict == "threat" and res.tip_feedback is None
    with world.platform.sessions() as s:
        result = result_for(s, no)
        assert result is not None and result.outcome == "offence" and result.offence_type == "prohibited"
        assert f"X-ray image {out.id} reviewed: threat" in result.notes
    assert world.platform.declarations.get(officer, no).status == "detained"
    assert [(v.image_id, v.verdict, v.decided_by) for v in heard] == [(out.id, "threat", "officer")]
    assert svc.get(officer, out.id).status == "reviewed" and svc.queue(officer) == []
    # a second opinion is kept, but the declaration keeps its one inspection result
    again = svc.review(officer, out.id, ReviewIn(decision="confirm_clear"))
    assert not again.inspection_result and "no inspection result recorded" in again.note
    tdr = dicos.read_tdr(svc.tdr(officer, out.id))
    assert (tdr["tdr_type"], tdr["alarm"], tdr["operator"]) == ("OPERATOR", "CLEAR", "officer")


def test_the_image_tables_are_append_only(client, world, tmp_path):
    no = held(client, world)
    svc = service(world, tmp_path)
    officer = world.principals["officer"]
    out = svc.upload(officer, png(), "declaration", no)
    svc.review(officer, out.id, ReviewIn(decision="confirm_clear"))
    for sql in (f"UPDATE images SET subject_id = 'x' WHERE id = {out.id}", f"DELETE FROM images WHERE id = {out.id}",
                "UPDATE image_reviews SET verdict = 'threat'", "DELETE FROM image_reviews"):
        with pytest.raises(Exception, match="append-only"), world.platform.engine.begin() as c:
            c.execute(text(sql))
    with world.platform.sessions() as s:
        assert s.scalar(select(ImageReview.verdict)) == "clear"


def test_suspect_region_is_the_peaks_blob():
    heat = np.zeros((100, 200), np.float32)
    heat[20:40, 50:90] = 0.9
    heat[70:75, 150:160] = 0.4  # a lesser, separate blob is not part of it
    box = suspect_region(heat)
    assert box is not None and (box.top, box.left, box.height, box.width) == (20, 50, 20, 40)
    assert suspect_region(np.full((10, 10), 0.1, np.float32)) is None


# -- with the real model ---------------------------------------------------------------------------------------
def test_routing_follows_the_threshold_and_consistency(client, world, tmp_path):
    model = real_model()
    no = held(client, world)
    data, _ = scan_of_goods()
    score = model.assess(dicos.read_scan(data).image, world_goods(world, no)).anomaly_score
    officer = world.principals["officer"]
    low = service(world, tmp_path / "a", model=model, threshold=min(1.0, score + 1e-6) if score < 1 else 1.0)
    high = service(world, tmp_path / "b", model=model, threshold=max(1e-6, score))
    a = low.upload(officer, data, "declaration", no).assessment
    b = high.upload(officer, data, "declaration", no).assessment
    assert a is not None and b is not None and a.anomaly_score == pytest.approx(b.anomaly_score)
    assert b.routed == "review"  # at the threshold: an officer looks
    assert a.routed == ("auto_cleared" if a.consistent and score < 1 else "review")
    with world.platform.sessions() as s:
        auto = [e.action for e in entries(s, object_type="image") if e.actor == "system"]
    assert ("image.auto_cleared" in auto) == (a.routed == "auto_cleared")


def world_goods(world, no):
    from smartcustoms.inspection.images.service import DeclarationSubjects

    subject = DeclarationSubjects(world.platform.declarations).resolve(world.principals["officer"], no)
    assert subject is not None
    return list(subject.goods)


def test_tip_jobs_are_scored_not_recorded_and_return_to_the_queue(client, world, tmp_path):
    no = held(client, world)
    svc = service(world, tmp_path, tip_share=1.0)  # no model: every image is a review job, all get TIP
    officer = world.principals["officer"]
    data = dicos.write_dx(ScanImage(np.full((120, 240), 0.8, np.float32), np.full((120, 240), 0.7, np.float32),
                                    pixel_mm=10.0), "x")[0]
    out = svc.upload(officer, data, "declaration", no)
    shown = svc.scan(officer, out.id)
    original = dicos.read_scan(data).image
    assert (shown.high < original.high - 0.05).any()  # the projected threat is in what the officer sees
    assert "tip" not in svc.get(officer, out.id).model_dump_json()  # ... and nothing tells it is TIP
    miss = svc.review(officer, out.id, ReviewIn(decision="confirm_clear"))
    assert miss.tip_feedback == "miss" and not miss.inspection_result
    with world.platform.sessions() as s:
        assert s.scalar(select(InspectionResult)) is None  # a TIP decision is no inspection result
    assert [j.image_id for j in svc.queue(officer)] == [out.id]  # back for its real review
    assert np.array_equal(svc.scan(officer, out.id).high, original.high)  # now without the threat
    real = svc.review(officer, out.id, ReviewIn(decision="confirm_clear"))
    assert real.tip_feedback is None and real.inspection_result
    (score,) = svc.tip_officers(world.principals["analyst"])
    assert (score.officer, score.tip_jobs, score.hits, score.misses, score.detection_rate) == ("officer", 1, 0, 1, 0.0)
    assert [r.decision for r in svc.get(officer, out.id).reviews] == ["confirm_clear"]  # the TIP one stays out


def test_the_tip_share_is_about_the_setting(client, world, tmp_path):
    svc = service(world, tmp_path, tip_share=0.25, seed=7)
    drawn = sum(svc._tip(ScanImage(np.ones((60, 120), np.float32), np.ones((60, 120), np.float32))) is not None
                for _ in range(200))
    assert 30 <= drawn <= 70  # 50 expected; binomial sd ~6


def test_a_manifest_line_is_a_subject_with_its_goods(world, tmp_path):
    from datetime import datetime, timedelta

    from smartcustoms.core.security import SYSTEM
    from smartcustoms.manifests.rules import ManifestSettings
    from smartcustoms.manifests.service import ManifestService
    from smartcustoms.simulate.manifests import Cons, Item, message

    now = datetime(2026, 12, 1)
    manifests = ManifestService(world.platform.sessions, ManifestSettings(), clock=lambda: now)
    [a] = manifests.ingest(message([Cons(doc="COSU77", loading_at=now + timedelta(days=2),
                                         items=[Item(description="FROZEN FISH")])]), "CARRIER1", SYSTEM)
    assert a.accepted
    svc = world.platform.images  # the platform's wiring: parcels and manifest lines are looked up in their domains
    svc.tip_share = 0.0
    out = svc.upload(world.principals["officer"], png(), "manifest_line", "COSU77")
    subject = svc.subject(world.principals["officer"], out.id)
    assert subject.kind == "manifest_line" and [g.description for g in subject.goods] == ["FROZEN FISH"]
    heard: list[ImageVerdict] = []
    world.platform.image_verdict_listeners.append(heard.append)
    flagged = out.assessment is not None and out.assessment.routed == "review"
    r = svc.review(world.principals["officer"], out.id, ReviewIn(
        decision="override_clear" if flagged else "confirm_clear", reason="fish, as declared"))
    assert not r.inspection_result  # only a declaration's scan becomes an inspection result
    assert [(v.subject_kind, v.subject_id, v.verdict) for v in heard] == [("manifest_line", "COSU77", "clear")]


def test_with_the_model_a_flagged_job_gets_tip_a_heat_map_and_a_machine_tdr(client, world, tmp_path):
    model = real_model()
    no = held(client, world)
    data, _ = scan_of_goods("dense_in_light")
    svc = service(world, tmp_path, model=model, threshold=1e-6, tip_share=1.0)  # everything flagged, all TIP
    officer = world.principals["officer"]
    out = svc.upload(officer, data, "declaration", no)
    assert out.assessment is not None and out.assessment.routed == "review" and out.status == "awaiting_review"
    heat = Image.open(io.BytesIO(svc.heatmap_png(officer, out.id)))
    assert heat.size == (out.width, out.height) and heat.mode == "L"
    tdr = dicos.read_tdr(svc.tdr(officer, out.id))
    assert (tdr["tdr_type"], tdr["alarm"]) == ("MACHINE", "ALARM")
    assert tdr["algorithm"] == out.assessment.model_version
    with pytest.raises(ValidationProblem) as e:  # the machine called it a threat: "confirm_clear" does not fit
        svc.review(officer, out.id, ReviewIn(decision="confirm_clear"))
    assert e.value.errors[0].field == "decision"
    with world.platform.sessions() as s:  # a hit needs a region marked on the projected threat (tip.tip_outcome)
        p = s.scalar(select(TipProjection).where(TipProjection.image_id == out.id))
    marks = [ThreatMarkIn(category="weapons", top=p.top, left=p.left, height=p.height, width=p.width)]
    hit = svc.review(officer, out.id, ReviewIn(decision="confirm_threat", reason="dense block", marks=marks))
    assert hit.tip_feedback == "hit" and not hit.inspection_result
    (score,) = svc.tip_officers(world.principals["admin"])
    assert (score.tip_jobs, score.hits, score.detection_rate) == (1, 1, 1.0)


def test_previous_images_are_the_subjects_and_the_importers_with_the_same_goods(client, world, tmp_path):
    first, second = held(client, world), held(client, world)
    svc = service(world, tmp_path)
    officer = world.principals["officer"]
    a = svc.upload(officer, png(), "declaration", first)
    b = svc.upload(officer, png(40, 40), "declaration", second)  # same importer, same HS heading (6907)
    c = svc.upload(officer, png(50, 50), "declaration", first)
    assert [i.id for i in svc.previous(officer, c.id)] == [b.id, a.id]  # newest first, itself left out
    assert [i.id for i in svc.previous(officer, a.id)] == []  # nothing earlier
    assert [i.id for i in svc.previous(officer, c.id, limit=1)] == [b.id]
