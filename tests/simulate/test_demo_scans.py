"""The demo's scans: synthetic X-ray images of held declarations put in the image review queue, once."""

from __future__ import annotations

from smartcustoms.core.config import Settings
from smartcustoms.platform import build_platform
from smartcustoms.simulate.demo_scans import SCANNER, load_demo_scans
from tests.support import seed_world
from tests.web.conftest import _seed


def test_the_demo_scans_held_declarations_once_and_the_queue_has_them(tmp_path):
    platform = build_platform(Settings(data_dir=tmp_path), database_url=f"sqlite:///{tmp_path / 'sc.db'}")
    try:
        world = seed_world(platform)
        held, _ = _seed(world)  # six tile declarations, four still held in the red lane
        assert load_demo_scans(platform, n=3, seed=1) == 3
        assert load_demo_scans(platform, n=3, seed=1) == 0  # once
        officer = world.principals["officer"]
        scanned = {img.subject_id for img in (platform.images.get(officer, i) for i in (1, 2, 3))}
        assert scanned <= set(held) and len(scanned) == 3
        assert all(platform.images.get(officer, i).uploaded_by == SCANNER.username for i in (1, 2, 3))
        if platform.images.model is not None:  # assessed by the shipped model
            scores = [platform.images.get(officer, i).assessment.anomaly_score for i in (1, 2, 3)]
            assert all(0.0 <= s <= 1.0 for s in scores)
    finally:
        platform.close()
