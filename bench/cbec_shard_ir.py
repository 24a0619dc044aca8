"""Instructions per parcel of one CBEC writer shard, counted by callgrind: repeatable on a busy machine.

    .venv/bin/python bench/cbec_shard_ir.py                       # this checkout
    .venv/bin/python bench/cbec_shard_ir.py --baseline-src ../old/src   # and another checkout's src, same run
    .venv/bin/python bench/cbec_shard_ir.py --signed              # every message signed (RSA-SHA1) and verified
    .venv/bin/python bench/cbec_shard_ir.py --cpu 5 --baseline-src ../old/src   # CPU per parcel, alternated

Wall-clock figures on the shared 2-core VM swing by 1.5-2x from one hour to the next; instruction counts do
not (the same total twice, whatever else runs). The script writes two seeded inputs with the simulator
(``--parcels`` and ``--small`` parcels, as ``bench/cbec.py`` does), compiles a two-function helper
(``valgrind/callgrind.h`` client requests) with gcc, and runs shard 0 of 2 (``run_shard``) on each input
under ``valgrind --tool=callgrind`` with instrumentation on from the end of the shard's warm start (where
``bench/cbec.py`` starts its clock) to the end of its run. It prints the instructions per own parcel of
the large input and the marginal ones (large − small, which leaves out fixed costs), and hashes of the
receipts (return times removed), parcel rows and events, which must be equal between two checkouts that
decide alike. With ``--signed`` the inputs are signed with one generated RSA-1024 test key, registered (as
``bench/cbec.py --signed`` does) for the simulated senders, and every signature is verified: run it beside
the unsigned count to get what verification costs in instructions. Needs valgrind and its headers (Debian:
valgrind).
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

TOGGLE_C = """#include <valgrind/callgrind.h>
void cg_start(void) { CALLGRIND_ZERO_STATS; CALLGRIND_START_INSTRUMENTATION; }
void cg_stop(void) { CALLGRIND_STOP_INSTRUMENTATION; CALLGRIND_DUMP_STATS_AT("shard"); }
"""


def child(input_path: str, toggle: str, work: str) -> None:
    """Under callgrind: shard 0 of 2 on the input, counted from its warm start; prints what it decided."""
    import ctypes
    import sqlite3

    from smartcustoms.cbec.runner import ShardJob, run_shard
    from smartcustoms.core.db import upgrade

    url = f"sqlite:///{work}/x.db"
    upgrade(url)
    cert = os.environ.get("SMARTCUSTOMS_IR_CERT")
    if cert:  # --signed: the generator's certificate, registered for every simulated sender
        from cbec import register_signer

        register_signer(url, Path(cert).read_bytes())
    job = ShardJob(url, input_path, 0, 2, 1000, f"{work}/receipts.xml", True)
    lib = ctypes.CDLL(toggle)

    class Ready:  # run_shard waits on it once warm-started, where the bench's clock starts
        cpu0 = 0.0

        def wait(self) -> None:
            lib.cg_start()
            self.cpu0 = time.process_time()

    ready = Ready()
    stats = run_shard(job, ready)
    cpu = time.process_time() - ready.cpu0
    lib.cg_stop()
    receipts = re.sub(rb"<(?:ceb:)?returnTime>\d+</(?:ceb:)?returnTime>", b"", Path(job.receipts).read_bytes())
    db = sqlite3.connect(f"{work}/x.db")

    def digest(sql: str) -> str:
        return hashlib.sha1(repr(db.execute(sql).fetchall()).encode()).hexdigest()[:12]

    rows = digest("SELECT ebp_code, order_no, status, tax_fen, charged_fen, info FROM cbec_parcel ORDER BY id")
    events = digest("SELECT ebp_code, order_no, status, info FROM cbec_parcel_event ORDER BY id")
    print(f"parcels {stats.parcels} status {dict(sorted(stats.status_counts.items()))} "
          f"receipts {hashlib.sha1(receipts).hexdigest()[:12]} rows {rows} events {events} "
          f"cpu_us_per_parcel {cpu / max(stats.parcels, 1) * 1e6:.1f}")


def _count(src: str | None, inp: Path, toggle: Path, tmp: Path, tag: str) -> tuple[int, int, str]:
    work = tmp / f"{tag}-{inp.parent.name}"
    work.mkdir()
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    if src:
        env["PYTHONPATH"] = src
    if (tmp / "cert.der").exists():
        env["SMARTCUSTOMS_IR_CERT"] = str(tmp / "cert.der")
    out = work / "cg.out"
    run = subprocess.run(["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}.%p",
                          sys.executable, __file__, "--child", str(inp), str(toggle), str(work)],
                         env=env, capture_output=True, text=True, check=True)
    total = 0
    for f in glob.glob(f"{out}.*"):
        total += sum(int(line.split()[1]) for line in Path(f).read_text().splitlines() if line.startswith("totals:"))
    report = [ln for ln in run.stdout.splitlines() if ln.startswith("parcels ")][-1]
    return total, int(report.split()[1]), report


def _cpu(src: str | None, inp: Path, toggle: Path, tmp: Path, tag: str) -> float:
    """CPU µs per own parcel of shard 0 of 2 on ``inp``, not under valgrind (``time.process_time``)."""
    work = Path(tempfile.mkdtemp(dir=tmp, prefix=f"cpu-{tag}-"))
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    if src:
        env["PYTHONPATH"] = src
    run = subprocess.run([sys.executable, __file__, "--child", str(inp), str(toggle), str(work)],
                         env=env, capture_output=True, text=True, check=True)
    report = [ln for ln in run.stdout.splitlines() if ln.startswith("parcels ")][-1]
    shutil.rmtree(work)
    return float(report.split()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--parcels", type=int, default=10_000)
    ap.add_argument("--small", type=int, default=2_000)
    ap.add_argument("--baseline-src", default=None, help="another checkout's src directory, counted in the same run")
    ap.add_argument("--signed", action="store_true",
                    help="sign every message with a test key (RSA-SHA1) and verify every signature")
    ap.add_argument("--keep", default=None,
                    help="copy the callgrind output files to this directory (read them with callgrind_annotate)")
    ap.add_argument("--cpu", type=int, default=0, metavar="ROUNDS",
                    help="no callgrind: CPU µs per own parcel (process_time) of this checkout and --baseline-src, "
                         "alternated ROUNDS times on the --parcels input, one run at a time")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).parent))
    if args.child:
        child(*args.child)
        return
    # unsigned runs accept unsigned CEB621 (a production writer refuses them; bench/cbec.py too); signed runs
    # require signatures
    os.environ["SMARTCUSTOMS_CBEC_ACCEPT_UNSIGNED"] = "0" if args.signed else os.environ.get(
        "SMARTCUSTOMS_CBEC_ACCEPT_UNSIGNED", "1")
    from cbec import make_input, test_signer

    key = test_signer() if args.signed else None

    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        (tmp / "cgtoggle.c").write_text(TOGGLE_C)
        toggle = tmp / "libcgtoggle.so"
        subprocess.run(["gcc", "-shared", "-fPIC", "-O1", "-o", str(toggle), str(tmp / "cgtoggle.c")], check=True)
        if key is not None:
            (tmp / "cert.der").write_bytes(key[1])
        inputs = {}
        if args.cpu:
            (tmp / "in").mkdir()
            inp = make_input(args.parcels, 42, tmp / "in", key=key)
            runs: dict[str, list[float]] = {"this checkout": [], "baseline": []}
            for _ in range(args.cpu):
                for tag, src in (("baseline", args.baseline_src), ("this checkout", None)):
                    if tag == "baseline" and not src:
                        continue
                    runs[tag].append(_cpu(src, inp, toggle, tmp, tag.replace(" ", "-")))
            for tag, values in runs.items():
                if values:
                    print(f"{tag}: CPU µs per own parcel " + " · ".join(f"{v:.1f}" for v in values)
                          + f" (median {sorted(values)[len(values) // 2]:.1f})")
            return
        for n in (args.parcels, args.small):
            (tmp / f"in{n}").mkdir()
            inputs[n] = make_input(n, 42, tmp / f"in{n}", key=key)
        for tag, src in (("this checkout", None), ("baseline", args.baseline_src)):
            if tag == "baseline" and not src:
                continue
            with ThreadPoolExecutor(2) as pool:  # the two inputs at once, one core each
                (big, own_big, report), (small, own_small, _r) = pool.map(
                    lambda n, src=src, tag=tag: _count(src, inputs[n], toggle, tmp, tag.replace(" ", "-")),
                    (args.parcels, args.small))
            print(f"{tag}: {big / own_big:,.0f} Ir per own parcel ({own_big} own parcels of {args.parcels}); "
                  f"marginal {(big - small) / (own_big - own_small):,.0f}")
            print(f"  {report}")
        if args.keep:
            Path(args.keep).mkdir(parents=True, exist_ok=True)
            for f in tmp.glob("*/cg.out.*"):
                shutil.copy(f, Path(args.keep) / f"{f.parent.name}.{f.name}")


if __name__ == "__main__":
    main()
