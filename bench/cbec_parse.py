"""CEB micro-benchmark: parse + validate + encode per message, and receipt emission, old vs new in one run.

    python bench/cbec_parse.py                    # 2,500 simulated parcels = 10,000 messages
    python bench/cbec_parse.py --parcels 5000 --json

Single process, single core; times are CPU time of this process (``time.process_time``, so that other
work on a shared machine inflates them less; ``--wall`` for wall-clock). "old" is the lxml path
(``parse_batch_encoded_lxml``, the reference the fast path falls back to) and the previous receipt
emitter (``tests/cbec/reference_receipts.py``, with an uncached ``format_time``); "new" is
``parse_batch_encoded`` (the compiled ``ceb/_scan.pyx`` scanner) and ``emit_receipt``. Both run on the same
messages and receipts, interleaved, best of ``--repeat`` rounds; outputs are checked to be identical.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repo root: tests.cbec
from tests.cbec.reference_receipts import old_emit_receipt  # noqa: E402

CLOCK: Callable[[], float] = time.process_time


def best_of(old: Callable[[], Any], new: Callable[[], Any], repeat: int) -> tuple[float, float, Any, Any]:
    """Best time of each over ``repeat`` interleaved rounds (old, new, old, new, ...) and their results."""
    best = [float("inf"), float("inf")]
    results: list[Any] = [None, None]
    for _ in range(repeat):
        for i, fn in enumerate((old, new)):
            t0 = CLOCK()
            results[i] = fn()
            best[i] = min(best[i], CLOCK() - t0)
    return best[0], best[1], results[0], results[1]


def comparable(results: Sequence[Any]) -> list:
    from smartcustoms.cbec.ceb.parse import Encoded
    from smartcustoms.cbec.ceb.spec import CebError

    def one(r: Any) -> Any:  # refusals (whole messages, or single documents inside a message) by value
        if isinstance(r, CebError):
            return (r.problems, r.kind, r.message_guid, r.status, r.keys)
        if isinstance(r, Encoded):
            return [one(p) for p in r.payloads]
        return r
    return [one(r) for r in results]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--parcels", type=int, default=2500)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--wall", action="store_true", help="wall-clock instead of CPU time")
    args = ap.parse_args()
    global CLOCK
    if args.wall:
        CLOCK = time.perf_counter

    from smartcustoms.cbec.ceb import parse as ceb_parse
    from smartcustoms.cbec.ceb import receipts as ceb_receipts
    from smartcustoms.cbec.ceb import spec as ceb_spec
    from smartcustoms.cbec.ceb import statuses as ceb_statuses
    from smartcustoms.cbec.simulate import generate

    raws = list(generate(args.parcels, args.seed))
    n = len(raws)
    fast_share = sum(ceb_parse._FAST.encode(r) is not None for r in raws) / n if ceb_parse._FAST is not None else 0.0
    old_s, new_s, old_out, new_out = best_of(lambda: ceb_parse.parse_batch_encoded_lxml(raws),
                                             lambda: ceb_parse.parse_batch_encoded(raws), args.repeat)
    assert comparable(new_out) == comparable(old_out), "fast path and lxml path disagree"
    old_doc_s, new_doc_s, _o, _n = best_of(lambda: [ceb_parse.parse_message_lxml(r) for r in raws],
                                           lambda: [ceb_parse.parse_message(r) for r in raws], args.repeat)

    # receipts as the pipeline makes them: one per message (120), a decision per inventory, one `now` per batch
    t0 = 1_773_000_000_000
    receipts = []
    for i, docs in enumerate(ceb_parse.parse_message(r) for r in raws):
        for d in docs:
            now = t0 + (i // 1000) * 37
            receipts.append(ceb_receipts.Receipt(ceb_spec.RECEIPT_KIND[d.kind], d.guid, ceb_statuses.ENTERED,
                                                 "entered customs", now, d.head))
            if d.kind == ceb_spec.INVENTORY:
                receipts.append(ceb_receipts.Receipt("CEB622", d.guid, ceb_statuses.RELEASED, "released", now + 5,
                                                     d.head))
    old_r_s, new_r_s, old_r, new_r = best_of(lambda: b"".join(old_emit_receipt(r) for r in receipts),
                                             lambda: b"".join(ceb_receipts.emit_receipt(r) for r in receipts),
                                             args.repeat)
    assert new_r == old_r, "receipt bytes differ"
    # warm: as the pipeline's sink runs, right after its batch was processed (heads in cache), 1,000 at a time
    old_w = new_w = 0.0
    for i in range(0, len(receipts), 1000):
        chunk = receipts[i:i + 1000]
        o, w, _o, _w = best_of(lambda c=chunk: b"".join(map(old_emit_receipt, c)),
                               lambda c=chunk: b"".join(map(ceb_receipts.emit_receipt, c)), args.repeat)
        old_w, new_w = old_w + o, new_w + w

    def us(seconds: float, count: int) -> float:
        return round(seconds / count * 1e6, 2)

    result = {
        "messages": n,
        "bytes_per_message": round(sum(map(len, raws)) / n),
        "fast_path_share": round(fast_share, 4),
        "parse_encoded_old_us": us(old_s, n),
        "parse_encoded_new_us": us(new_s, n),
        "parse_encoded_speedup": round(old_s / new_s, 1),
        "parse_documents_old_us": us(old_doc_s, n),
        "parse_documents_new_us": us(new_doc_s, n),
        "receipts": len(receipts),
        "receipt_old_us": us(old_r_s, len(receipts)),
        "receipt_new_us": us(new_r_s, len(receipts)),
        "receipt_speedup": round(old_r_s / new_r_s, 1),
        "receipt_warm_old_us": us(old_w, len(receipts)),
        "receipt_warm_new_us": us(new_w, len(receipts)),
        "receipt_warm_speedup": round(old_w / new_w, 1),
        "clock": "wall" if args.wall else "cpu",
        "loadavg": " ".join(Path("/proc/loadavg").read_text().split()[:3]) if Path("/proc/loadavg").exists() else "",
    }
    if args.json:
        print(json.dumps(result))
    else:
        for k, v in result.items():
            print(f"{k:>24}: {v}")


if __name__ == "__main__":
    main()
