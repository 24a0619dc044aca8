"""The images API over HTTP (SQLite and PostgreSQL): upload, read, pixels, TDR, queue, review; RFC 9457 problems,
roles and credentials."""

from __future__ import annotations

import io

import numpy as np
import pydicom
from PIL import Image

from smartcustoms.declarations.lifecycle import Lane
from smartcustoms.declarations.service import LaneDecision
from smartcustoms.inspection.images import dicos
from smartcustoms.inspection.images.schemas import ScanImage
from tests.support import assert_problem, lodge
from tests.support import key_header as h


class RedLane:
    """Holds every declaration on the red lane."""

    def decide(self, session, batch):
        return [LaneDecision(Lane.RED, 0.9, ["test rule"], "rule") for _ in batch]


def held(client, world) -> str:
    world.platform.set_selectivity(RedLane())
    r = lodge(client, world)
    assert r.status_code == 201, r.text
    return r.json()["declaration_no"]


def dx() -> bytes:
    rng = np.random.default_rng(2)
    high = rng.uniform(0.3, 1.0, (40, 70)).astype(np.float32)
    return dicos.write_dx(ScanImage(high, high ** 1.3, 8.0), "api")[0]


def upload(client, world, no: str, data: bytes, user: str = "officer", kind: str = "declaration"):
    return client.post("/api/v1/images", files={"file": ("scan.dcm", data, "application/dicom")},
                       data={"subject_kind": kind, "subject_id": no}, headers=h(world, user))


def test_upload_read_pixels_review_and_tdr(client, world):
    world.platform.images.tip_share = 0.0  # this test reviews for real (TIP has its own test)
    no = held(client, world)
    data = dx()
    r = upload(client, world, no, data)
    assert r.status_code == 201, r.text
    img = r.json()
    assert (img["subject_id"], img["source_format"], img["dual_energy"], img["width"], img["height"]) == \
        (no, "dicos", True, 70, 40)
    got = client.get(f"/api/v1/images/{img['id']}", headers=h(world, "analyst"))
    assert got.status_code == 200 and got.json()["sha256"] == img["sha256"]
    for energy in ("high", "low", "material"):
        p = client.get(f"/api/v1/images/{img['id']}/pixels.png", params={"energy": energy, "contrast": 1.5},
                       headers=h(world, "officer"))
        assert p.status_code == 200 and p.headers["content-type"] == "image/png"
        assert Image.open(io.BytesIO(p.content)).size == (70, 40)
    subject = client.get(f"/api/v1/images/{img['id']}/subject", headers=h(world, "officer")).json()
    assert subject["kind"] == "declaration" and [g["hs_code"] for g in subject["goods"]] == ["6907220000"] * 2
    if img["assessment"] is None:  # no model installed: the job waits unassessed
        assert_problem(client.get(f"/api/v1/images/{img['id']}/heatmap.png", headers=h(world, "officer")), 409)
    else:
        assert client.get(f"/api/v1/images/{img['id']}/heatmap.png", headers=h(world, "officer")).status_code == 200
    queue = client.get("/api/v1/images/queue", headers=h(world, "officer")).json()
    machine = img["assessment"]["routed"] if img["assessment"] else None
    assert (img["id"] in [j["image_id"] for j in queue]) == (machine != "auto_cleared")
    decision = "override_threat" if machine == "auto_cleared" else "confirm_threat"
    r = client.post(f"/api/v1/images/{img['id']}/review", headers=h(world, "officer"),
                    json={"decision": decision, "reason": "undeclared dense goods", "offence_type": "quantity"})
    assert r.status_code == 201, r.text
    assert r.json()["inspection_result"] is True
    d = client.get(f"/api/v1/declarations/{no}", headers=h(world, "officer")).json()
    assert d["status"] == "detained"
    t = client.get(f"/api/v1/images/{img['id']}/tdr", headers=h(world, "officer"))
    assert t.status_code == 200 and t.headers["content-type"] == "application/dicom"
    ds = pydicom.dcmread(io.BytesIO(t.content))
    assert ds.SOPClassUID == dicos.DICOS_TDR and ds.AlarmDecision == "ALARM" and ds.TDRType == "OPERATOR"
    assert ds.ReferencedInstanceSequence[0].ReferencedSOPInstanceUID == pydicom.dcmread(io.BytesIO(data)).SOPInstanceUID


def test_bad_requests_are_problems_naming_the_field(client, world):
    no = held(client, world)
    assert_problem(upload(client, world, no, b"not an image at all" * 20), 422, "file")
    assert_problem(upload(client, world, no, dx(), kind="container"), 422, "subject_kind")
    assert_problem(upload(client, world, "222020269999999999", dx()), 422, "subject_id")
    # parcels (by waybill) and manifest lines (by transport document) are looked up in their domains
    assert_problem(upload(client, world, "SF0000000001", dx(), kind="parcel"), 422, "subject_id")
    assert_problem(upload(client, world, "MSKU-BL-404", dx(), kind="manifest_line"), 422, "subject_id")
    r = client.post("/api/v1/images", data={"subject_kind": "declaration", "subject_id": no},
                    headers=h(world, "officer"))
    assert_problem(r, 422, "file")
    img = upload(client, world, no, dx()).json()
    assert_problem(client.post(f"/api/v1/images/{img['id']}/review", json={"decision": "confirm_threat"},
                               headers=h(world, "officer")), 422)  # a threat needs a reason
    assert_problem(client.post(f"/api/v1/images/{img['id']}/review", json={"decision": "maybe", "reason": "x"},
                               headers=h(world, "officer")), 422, "decision")
    assert_problem(client.get(f"/api/v1/images/{img['id']}/pixels.png", params={"contrast": 50},
                              headers=h(world, "officer")), 422, "contrast")
    assert_problem(client.get("/api/v1/images/99999", headers=h(world, "officer")), 404)


def test_roles_and_credentials(client, world):
    no = held(client, world)
    assert_problem(upload(client, world, no, dx(), user="trader"), 403)
    assert_problem(upload(client, world, no, dx(), user="analyst"), 403)
    assert_problem(upload(client, world, no, dx(), user="admin"), 403)
    r = client.post("/api/v1/images", files={"file": ("a.dcm", dx())}, data={"subject_kind": "declaration",
                                                                             "subject_id": no})
    assert_problem(r, 401)
    img = upload(client, world, no, dx()).json()
    for user in ("trader", "other", "broker"):  # no trader sees scans, its own declaration's or another's
        assert_problem(client.get(f"/api/v1/images/{img['id']}", headers=h(world, user)), 403)
        assert_problem(client.get(f"/api/v1/images/{img['id']}/pixels.png", headers=h(world, user)), 403)
        assert_problem(client.get("/api/v1/images/queue", headers=h(world, user)), 403)
    assert_problem(client.post(f"/api/v1/images/{img['id']}/review", json={"decision": "confirm_clear"},
                               headers=h(world, "analyst")), 403)
    assert_problem(client.get("/api/v1/images/tip/officers", headers=h(world, "officer")), 403)
    r = client.get("/api/v1/images/tip/officers", headers=h(world, "analyst"))
    assert r.status_code == 200 and r.json() == []


def test_a_file_over_the_limit_is_a_413_naming_it(world):
    from fastapi.testclient import TestClient

    from smartcustoms.web.app import create_app

    world.platform.settings.max_image_bytes = 4000  # read when the app and the image service are built
    with TestClient(create_app(world.platform)) as c:
        no = held(c, world)
        body = assert_problem(upload(c, world, no, dx()), 413, "file")  # dx() is ~11 KB
        assert "4,000 bytes" in body["detail"]
