"""DICOM network intake (issue #20): the same scans uploaded through ``ImageService.upload`` and sent by C-STORE
to the SCP (``inspection/images/scp.py``) over loopback, interleaved in one run.

    python bench/scan_intake.py            # 30 synthetic 256x512 dual-energy DICOS DX scans
    python bench/scan_intake.py --n 60
    python bench/scan_intake.py --tls      # and a third way: C-STORE over mutual TLS (test certificates)

Both paths store, assess (the shipped model when installed), route and record each scan on a throw-away SQLite
platform (one held declaration, TIP off). C-STORE time is the SCU's round trip: encoding, the network, the SCP's
decoding and the same upload. Wall-clock times on a shared machine: say the load with the figures. The scans
are synthetic (``simulate.scans``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repo root: tests.support, tests.web
import pydicom  # noqa: E402
from pydicom.uid import ExplicitVRLittleEndian  # noqa: E402
from pynetdicom import AE  # noqa: E402

from smartcustoms.core.config import ScannerAE, Settings  # noqa: E402
from smartcustoms.inspection.images import dicos, scp  # noqa: E402
from smartcustoms.platform import build_platform  # noqa: E402
from smartcustoms.simulate.scans import render_scan  # noqa: E402
from tests.support import seed_world  # noqa: E402
from tests.web.conftest import _seed  # noqa: E402
from tests.web.test_image_review import TILES  # noqa: E402


def main() -> None:
    """Time both paths on the same scans and print one line each."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=30, help="scans sent each way")
    ap.add_argument("--tls", action="store_true", help="also C-STORE over mutual TLS to a second receiver")
    args = ap.parse_args()
    n = args.n
    tmp = Path(tempfile.mkdtemp())
    settings = Settings(data_dir=tmp, session_secret="bench", images_tip_share=0.0)
    platform = build_platform(settings, database_url=f"sqlite:///{tmp / 'bench.db'}")
    world = seed_world(platform)
    officer = world.principals["officer"]
    no = _seed(world)[0][0]
    office = platform.images.resolvers["declaration"].resolve(officer, no).office
    files = [dicos.write_dx(render_scan(TILES, seed=100 + i, size=(256, 512)).image, "bench")[0] for i in range(n)]
    receiver = scp.ScanReceiver(platform.images, Settings(data_dir=tmp, images_scp_scanners={
        "BENCHXR": ScannerAE(offices=[office or "0000"])}))
    server = receiver.start("127.0.0.1", 0)
    assert server is not None
    ae = AE(ae_title="BENCHXR")
    ae.add_requested_context(dicos.DICOS_DX_PRESENTATION, ExplicitVRLittleEndian)
    assoc = ae.associate("127.0.0.1", server.server_address[1], ae_title=receiver.ae_title)
    tls_server = tls_assoc = None
    if args.tls:  # a second receiver over TLS, certificates made as in tests/inspection/images/test_scp_tls.py
        import ssl

        from tests.inspection.images.test_scp_tls import CA

        ca = CA(tmp, "Bench scanner CA")
        server_cert, client_cert = ca.issue("smartcustoms", server=True), ca.issue("BENCHXR")
        tls_receiver = scp.ScanReceiver(platform.images, Settings(
            data_dir=tmp, images_scp_scanners={"BENCHXR": ScannerAE(offices=[office or "0000"])},
            images_scp_tls_certificate=server_cert.cert, images_scp_tls_key=server_cert.key,
            images_scp_tls_ca=ca.pem))
        tls_server = tls_receiver.start("127.0.0.1", 0)
        assert tls_server is not None
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(ca.pem))
        ctx.load_cert_chain(str(client_cert.cert), str(client_cert.key))
        tls_assoc = ae.associate("127.0.0.1", tls_server.server_address[1], ae_title=receiver.ae_title,
                                 tls_args=(ctx, "localhost"))
        assert tls_assoc.is_established

    def data_set(data: bytes) -> pydicom.Dataset:
        ds = pydicom.dcmread(pydicom.filebase.DicomBytesIO(data))
        ds.AccessionNumber = no
        return ds

    platform.images.upload(officer, files[0], "declaration", no)  # warm-up: the model's session, caches
    assert assoc.send_c_store(data_set(files[0])).Status == scp.SUCCESS
    if tls_assoc is not None:
        assert tls_assoc.send_c_store(data_set(files[0])).Status == scp.SUCCESS
    direct: list[float] = []
    network: list[float] = []
    secure: list[float] = []
    ways = ["upload", "c-store"] + (["c-store-tls"] if tls_assoc is not None else [])
    for i, data in enumerate(files):  # interleaved, the order rotated: drift in the machine's load hits all alike
        ds = data_set(data)
        for way in ways[i % len(ways):] + ways[:i % len(ways)]:
            t = time.perf_counter()
            if way == "upload":
                platform.images.upload(officer, data, "declaration", no)
                direct.append(time.perf_counter() - t)
            else:
                status = (assoc if way == "c-store" else tls_assoc).send_c_store(ds)  # type: ignore[union-attr]
                (network if way == "c-store" else secure).append(time.perf_counter() - t)
                assert status.Status == scp.SUCCESS, status
    assoc.release()
    server.shutdown()
    if tls_assoc is not None and tls_server is not None:
        tls_assoc.release()
        tls_server.shutdown()
    platform.close()
    model = "none" if platform.images.model is None else type(platform.images.model).__name__
    print(f"n={n} 256x512 dual-energy DICOS DX ({len(files[0]) / 1e6:.2f} MB), model {model}")
    for name, xs in (("ImageService.upload", direct), ("C-STORE round trip", network),
                     ("C-STORE round trip over mutual TLS", secure)):
        if not xs:
            continue
        print(f"{name}: p50 {statistics.median(xs) * 1000:.0f} ms, max {max(xs) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
