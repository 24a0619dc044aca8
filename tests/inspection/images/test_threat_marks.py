"""Threat regions an officer marks with a review (SQLite and PostgreSQL): validated against the image's size,
stored append-only, shown in the review history and written into the DICOS TDR as operator-assessed potential
threat objects beside the machine's region, read back from the TDR."""

from __future__ import annotations

import io

import numpy as np
import pydicom
import pytest
from sqlalchemy import text

from smartcustoms.audit.service import entries
from smartcustoms.declarations.lifecycle import Lane
from smartcustoms.declarations.service import LaneDecision
from smartcustoms.inspection.images import dicos
from smartcustoms.inspection.images.schemas import MAX_MARKS, Box, ReviewIn, ScanImage
from tests.support import assert_problem, lodge
from tests.support import key_header as h


class RedLane:
    """Holds every declaration on the red lane."""

    def decide(self, session, batch):
        return [LaneDecision(Lane.RED, 0.9, ["test rule"], "rule") for _ in batch]


def scan_id(client, world) -> tuple[int, str | None]:
    """A held declaration's 70x40 dual-energy scan, uploaded by the officer; (image id, the machine's routing)."""
    world.platform.set_selectivity(RedLane())
    world.platform.images.tip_share = 0.0
    r = lodge(client, world)
    assert r.status_code == 201, r.text
    rng = np.random.default_rng(2)
    high = rng.uniform(0.3, 1.0, (40, 70)).astype(np.float32)
    data = dicos.write_dx(ScanImage(high, high ** 1.3, 8.0), "marks")[0]
    up = client.post("/api/v1/images", files={"file": ("scan.dcm", data, "application/dicom")},
                     data={"subject_kind": "declaration", "subject_id": r.json()["declaration_no"]},
                     headers=h(world, "officer"))
    assert up.status_code == 201, up.text
    a = up.json()["assessment"]
    return up.json()["id"], a["routed"] if a else None


def threat_decision(routed: str | None) -> str:
    return "override_threat" if routed == "auto_cleared" else "confirm_threat"


def test_marks_are_stored_shown_and_written_into_the_tdr(client, world):
    image_id, routed = scan_id(client, world)
    marks = [{"category": "drugs", "top": 5, "left": 10, "height": 12, "width": 20},
             {"category": "currency", "top": 30, "left": 60, "height": 10, "width": 10}]  # to the right edge
    r = client.post(f"/api/v1/images/{image_id}/review", headers=h(world, "officer"), json={
        "decision": threat_decision(routed), "reason": "two packages behind the tiles", "marks": marks})
    assert r.status_code == 201, r.text
    got = client.get(f"/api/v1/images/{image_id}", headers=h(world, "analyst")).json()
    assert got["reviews"][-1]["marks"] == marks  # in the review history, in the order sent
    with world.platform.sessions() as s:
        audit = entries(s, "image", str(image_id))
        assert [e for e in audit if e.action == "image.review"][0].detail["marks"] == marks
    for sql in ("UPDATE image_threat_marks SET category = 'other'", "DELETE FROM image_threat_marks"):
        with pytest.raises(Exception, match="append-only"), world.platform.engine.begin() as c:
            c.execute(text(sql))  # the marks cannot be changed afterwards
    tdr = client.get(f"/api/v1/images/{image_id}/tdr", headers=h(world, "officer"))
    assert tdr.status_code == 200
    report = dicos.read_tdr(tdr.content)
    assert report["tdr_type"] == "OPERATOR" and report["alarm"] == "ALARM" and report["operator"] == "officer"
    operator = [o for o in report["objects"] if o["source"] == "operator"]
    assert [(o["marked_as"], o["category"], o["flag"], o["probability"], o["box"]) for o in operator] == [
        ("drugs", "PHARMACEUTICAL", "THREAT", None, Box(5, 10, 12, 20)),
        ("currency", "CONTRABAND", "THREAT", None, Box(30, 60, 10, 10))]
    machine = [o for o in report["objects"] if o["source"] == "machine"]
    assert len(machine) <= 1 and all(o["probability"] is not None for o in machine)  # the model's region, if any
    ds = pydicom.dcmread(io.BytesIO(tdr.content))
    assert ds.NumberOfTotalObjects == len(report["objects"]) == len(machine) + 2
    assert [int(p.PotentialThreatObjectID) for p in ds.ThreatSequence] == list(range(1, len(report["objects"]) + 1))
    drugs = ds.ThreatSequence[len(machine)].PTORepresentationSequence[0]
    assert list(drugs.BoundingPolygon) == pytest.approx([80.0, 40.0, 0.0, 240.0, 136.0, 0.0])  # mm, 8 mm pixels


def test_marks_outside_the_image_or_on_a_clear_call_are_refused_naming_the_field(client, world):
    image_id, routed = scan_id(client, world)
    url, who = f"/api/v1/images/{image_id}/review", h(world, "officer")
    threat = threat_decision(routed)
    clear = "confirm_clear" if routed == "auto_cleared" else "override_clear"
    box = {"category": "weapons", "top": 0, "left": 0, "height": 5, "width": 5}
    body = assert_problem(client.post(url, headers=who, json={
        "decision": threat, "reason": "x", "marks": [box, {**box, "left": 60, "width": 11}]}), 422, "marks[1]")
    assert "70x40" in str(body)  # the image's size is named
    assert_problem(client.post(url, headers=who, json={
        "decision": threat, "reason": "x", "marks": [{**box, "top": 36}]}), 422, "marks[0]")
    assert_problem(client.post(url, headers=who, json={
        "decision": clear, "reason": "only tiles", "marks": [box]}), 422, "marks")
    assert_problem(client.post(url, headers=who, json={
        "decision": threat, "reason": "x", "marks": [{**box, "category": "bananas"}]}), 422, "marks[0].category")
    assert_problem(client.post(url, headers=who, json={
        "decision": threat, "reason": "x", "marks": [{**box, "width": 0}]}), 422, "marks[0].width")
    assert_problem(client.post(url, headers=who, json={
        "decision": threat, "reason": "x", "marks": [box] * (MAX_MARKS + 1)}), 422, "marks")
    assert client.get(f"/api/v1/images/{image_id}", headers=who).json()["reviews"] == []  # nothing recorded


def test_tdr_round_trip_of_operator_marks_without_a_machine_region():
    content = dicos.TdrContent(
        referenced_sop_instance="1.2.3.4", referenced_sop_class=dicos.DICOS_DX_PRESENTATION, object_id="declaration:1",
        anomaly_score=0.0, alarm=False, region=None, pixel_mm=5.0, algorithm="none", officer="officer",
        officer_verdict="threat", operator_marks=[dicos.OperatorMark(c, Box(1, 2, 3, 4))
                                                  for c in ("explosives", "weapons", "undeclared_goods", "other")])
    report = dicos.read_tdr(dicos.write_tdr(content))
    assert [(o["marked_as"], o["category"]) for o in report["objects"]] == [
        ("explosives", "EXPLOSIVE"), ("weapons", "CONTRABAND"), ("undeclared_goods", "ANOMALY"), ("other", "OTHER")]
    assert all(o["source"] == "operator" and o["box"] == Box(1, 2, 3, 4) for o in report["objects"])
    # a MACHINE report (no officer verdict yet) carries no operator marks
    machine = dicos.read_tdr(dicos.write_tdr(dicos.TdrContent(**{**vars(content), "officer_verdict": None})))
    assert machine["tdr_type"] == "MACHINE" and machine["objects"] == []


def test_review_in_takes_marks_only_with_a_threat():
    ReviewIn.model_validate({"decision": "confirm_threat", "reason": "r", "marks": [
        {"category": "drugs", "top": 0, "left": 0, "height": 1, "width": 1}]})
    with pytest.raises(ValueError, match="threat decision only"):
        ReviewIn.model_validate({"decision": "confirm_clear", "marks": [
            {"category": "drugs", "top": 0, "left": 0, "height": 1, "width": 1}]})
