"""TIP scoring by where the officer marked (SQLite and PostgreSQL): a hit needs a threat call with a region on the
projected threat; a threat call marked elsewhere or not at all is a false location; a clear call is a miss. The
per-officer figures (with the false-alarm rate on real scans found clean) are for analysts only, through the
service and the API, and nothing tells an officer where (or that) a threat was projected before the decision.

The scans are flat synthetic transmissions (no model: every image is a review job and, at a TIP share of 1,
a TIP presentation)."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pytest
from sqlalchemy import insert, select

from smartcustoms.audit.service import entries
from smartcustoms.core.errors import Forbidden
from smartcustoms.core.security import Principal, Role
from smartcustoms.inspection.images import dicos
from smartcustoms.inspection.images.models import ImageReview, TipProjection
from smartcustoms.inspection.images.schemas import Box, ReviewIn, ScanImage, ThreatMarkIn
from smartcustoms.inspection.images.tip import iou, localises, tip_outcome
from tests.inspection.images.test_image_service import held, service
from tests.support import assert_problem
from tests.support import key_header as h

THREAT = Box(top=40, left=100, height=20, width=30)


def scan() -> bytes:
    return dicos.write_dx(ScanImage(np.full((120, 240), 0.8, np.float32), np.full((120, 240), 0.7, np.float32),
                                    pixel_mm=10.0), "tip")[0]


def projected(world, image_id: int) -> Box:
    with world.platform.sessions() as s:
        p = s.scalar(select(TipProjection).where(TipProjection.image_id == image_id))
    assert p is not None
    return Box(p.top, p.left, p.height, p.width)


def mark(box: Box, category: str = "weapons") -> ThreatMarkIn:
    return ThreatMarkIn(category=category, top=box.top, left=box.left, height=box.height, width=box.width)  # type: ignore[arg-type]


def elsewhere(box: Box, width: int = 240, height: int = 120) -> Box:
    """A 10x10 region as far from ``box`` as the 240x120 scan allows (opposite corner)."""
    top = 0 if box.top + box.height / 2 > height / 2 else height - 10
    left = 0 if box.left + box.width / 2 > width / 2 else width - 10
    return Box(top, left, 10, 10)


def test_the_rule_iou_or_the_centre_in_a_mark_of_about_the_threats_size():
    assert iou(THREAT, THREAT) == 1.0 and iou(THREAT, Box(0, 0, 10, 10)) == 0.0
    assert localises(Box(45, 105, 20, 30), THREAT)  # shifted: IoU 0.45
    assert localises(Box(48, 112, 4, 4), THREAT)  # a small mark on the centre: IoU 0.03, but it points at it
    assert not localises(Box(40, 100, 4, 4), THREAT)  # a small mark on a corner: neither
    assert localises(Box(20, 80, 60, 70), THREAT)  # round it, 7x its area: IoU 0.14
    assert not localises(Box(0, 0, 120, 240), THREAT)  # the whole scan holds the centre but is 48x the threat
    assert tip_outcome("threat", [Box(0, 0, 5, 5), Box(50, 110, 10, 10)], THREAT) == "hit"  # one mark is enough
    assert tip_outcome("threat", [Box(0, 0, 5, 5)], THREAT) == "false_location"
    assert tip_outcome("threat", [], THREAT) == "false_location"
    assert tip_outcome("clear", [], THREAT) == "miss"


def test_a_hit_needs_a_mark_on_the_projected_threat(client, world, tmp_path):
    no = held(client, world)
    svc = service(world, tmp_path, tip_share=1.0)
    officer = world.principals["officer"]
    ids = [svc.upload(officer, scan(), "declaration", no).id for _ in range(4)]
    boxes = [projected(world, i) for i in ids]
    for i in ids:  # before the decision nothing tells where (or that) a threat was projected
        assert svc.get(officer, i).model_dump_json().count("tip") == 0
    assert all(j.region is None for j in svc.queue(officer))  # the queue shows the model's region only (none here)

    hit = svc.review(officer, ids[0], ReviewIn(decision="confirm_threat", reason="steel block",
                                                marks=[mark(elsewhere(boxes[0])), mark(boxes[0])]))
    assert hit.tip_feedback == "hit" and not hit.inspection_result
    assert hit.tip_region is not None and (hit.tip_region.top, hit.tip_region.left) == (boxes[0].top, boxes[0].left)
    wrong = svc.review(officer, ids[1], ReviewIn(decision="confirm_threat", reason="something at the edge",
                                                  marks=[mark(elsewhere(boxes[1]))]))
    assert wrong.tip_feedback == "false_location"
    unmarked = svc.review(officer, ids[2], ReviewIn(decision="confirm_threat", reason="looks wrong"))
    assert unmarked.tip_feedback == "false_location"
    miss = svc.review(officer, ids[3], ReviewIn(decision="confirm_clear"))
    assert miss.tip_feedback == "miss"

    (score,) = svc.tip_officers(world.principals["analyst"])
    assert (score.tip_jobs, score.hits, score.false_locations, score.misses) == (4, 1, 2, 1)
    assert score.detection_rate == 0.25
    assert (score.clean_reviewed, score.false_alarms, score.false_alarm_rate) == (0, 0, None)  # no real review yet
    with world.platform.sessions() as s:
        stored = {r.image_id: r.tip_hit for r in s.scalars(select(ImageReview).where(ImageReview.tip.is_(True)))}
        audit = entries(s, "image", str(ids[1]))
    assert stored == {ids[0]: True, ids[1]: False, ids[2]: False, ids[3]: False}
    assert audit[0].action == "image.tip_review" and audit[0].detail["outcome"] == "false_location"
    with pytest.raises(Forbidden):
        svc.tip_officers(officer)  # officers do not see TIP scores, their own or others'


def test_presentations_stored_before_marks_were_compared_are_rescored_by_the_rule(client, world, tmp_path):
    """A TIP review stored as a hit for any threat call (before this rule) is scored from its marks now."""
    no = held(client, world)
    svc = service(world, tmp_path, tip_share=1.0)
    officer = world.principals["officer"]
    image_id = svc.upload(officer, scan(), "declaration", no).id
    with world.platform.sessions() as s, s.begin():  # as the earlier code wrote it: tip_hit for a threat call
        s.execute(insert(ImageReview).values(image_id=image_id, at=datetime(2026, 11, 1), officer="officer",
                                             decision="confirm_threat", verdict="threat", reason="old", tip=True,
                                             tip_hit=True, inspection_result=False))
    (score,) = svc.tip_officers(world.principals["admin"])
    assert (score.hits, score.false_locations, score.detection_rate) == (0, 1, 0.0)


def test_the_false_alarm_rate_counts_threat_calls_on_scans_found_clean(client, world, tmp_path):
    no = held(client, world)
    svc = service(world, tmp_path)  # no TIP: real reviews
    a, b = world.principals["officer"], Principal(0, "officer.b", Role.OFFICER, internal=True)
    first, second, third = (svc.upload(a, scan(), "declaration", no).id for _ in range(3))
    svc.review(a, first, ReviewIn(decision="confirm_threat", reason="dense"))
    svc.review(b, first, ReviewIn(decision="confirm_clear", reason="second look: tiles"))  # found clean after all
    svc.review(a, second, ReviewIn(decision="confirm_clear"))
    svc.review(a, third, ReviewIn(decision="confirm_threat", reason="dense"))  # stands: not found clean
    svc.tip_share = 1.0
    tip_id = svc.upload(a, scan(), "declaration", no).id
    svc.review(a, tip_id, ReviewIn(decision="confirm_threat", reason="here", marks=[mark(projected(world, tip_id))]))
    (score,) = svc.tip_officers(world.principals["analyst"])
    assert (score.officer, score.tip_jobs, score.hits, score.detection_rate) == ("officer", 1, 1, 1.0)
    assert (score.clean_reviewed, score.false_alarms, score.false_alarm_rate) == (2, 1, 0.5)


def test_the_api_shows_the_figures_to_analysts_only(client, world):
    no = held(client, world)
    svc = world.platform.images
    svc.model, svc.tip_share = None, 1.0  # every scan a review job with a projected threat
    r = client.post("/api/v1/images", files={"file": ("s.dcm", scan())},
                    data={"subject_kind": "declaration", "subject_id": no}, headers=h(world, "officer"))
    assert r.status_code == 201, r.text
    image_id = r.json()["id"]
    box = projected(world, image_id)
    r = client.post(f"/api/v1/images/{image_id}/review", headers=h(world, "officer"), json={
        "decision": "confirm_threat", "reason": "dense block", "marks": [mark(box).model_dump()]})
    assert r.status_code == 201 and r.json()["tip_feedback"] == "hit"
    assert r.json()["tip_region"] == {"top": box.top, "left": box.left, "height": box.height, "width": box.width}
    assert_problem(client.get("/api/v1/images/tip/officers", headers=h(world, "officer")), 403)
    r = client.get("/api/v1/images/tip/officers", headers=h(world, "analyst"))
    assert r.status_code == 200
    assert r.json() == [{"officer": "officer", "tip_jobs": 1, "hits": 1, "false_locations": 0, "misses": 0,
                         "detection_rate": 1.0, "clean_reviewed": 0, "false_alarms": 0, "false_alarm_rate": None}]
