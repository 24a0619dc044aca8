"""Demo scans for ``make run``: synthetic X-ray images of held declarations, so the image review queue has work.

The images are synthetic (``simulate.scans``: Beer–Lambert dual-energy renderings of each declaration's goods,
some with a concealment), sent through the images service as a scanner would send them, by a demo scanner
operator (an internal officer principal named ``demo-scanner``). The model assesses and routes each one.
"""

from __future__ import annotations

from sqlalchemy import func, select

from smartcustoms.core.security import Principal, Role
from smartcustoms.declarations.lifecycle import Status
from smartcustoms.declarations.models import Declaration
from smartcustoms.inspection.images.dicos import write_dx
from smartcustoms.inspection.images.models import ScanImageRecord
from smartcustoms.platform import Platform
from smartcustoms.simulate.scans import CONCEALMENTS, render_scan

#: the demo's scanner: uploads are audited under this name
SCANNER = Principal(0, "demo-scanner", Role.OFFICER, internal=True)


def load_demo_scans(platform: Platform, n: int = 12, seed: int = 7) -> int:
    """Scan up to ``n`` held declarations of the scan and physical-inspection lanes (once: none when any image is
    stored); every other one hides a concealment. Returns the images uploaded."""
    with platform.sessions() as s:
        if s.scalar(select(func.count()).select_from(ScanImageRecord)):
            return 0
        held = list(s.scalars(select(Declaration.declaration_no)
                              .where(Declaration.status.in_((Status.LANE_ASSIGNED, Status.INSPECTION)),
                                     Declaration.lane.in_(("blue", "red")))
                              .order_by(Declaration.lodged_at.desc()).limit(n)))
    images = platform.images
    resolver = images.resolvers["declaration"]
    done = 0
    for i, no in enumerate(held):
        subject = resolver.resolve(SCANNER, no)
        if subject is None or not subject.goods:
            continue
        concealment = CONCEALMENTS[(i // 2) % len(CONCEALMENTS)] if i % 2 else None
        rendered = render_scan(subject.goods, seed=seed * 1000 + i, concealment=concealment)
        data, _ = write_dx(rendered.image, f"declaration:{no}")
        images.upload(SCANNER, data, "declaration", no)
        done += 1
    return done
