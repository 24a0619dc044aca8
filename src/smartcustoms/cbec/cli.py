"""``smartcustoms cbec ...``: ingest CEB message files, generate test traffic, inspect parcels and quota."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from smartcustoms.core.cli_support import progress_bar

app = typer.Typer(help="Cross-border e-commerce retail imports (CEB messages).", no_args_is_help=True)


def _url(db: str | None) -> str:
    from smartcustoms.core.config import get_settings
    from smartcustoms.core.db import upgrade

    url = db or get_settings().resolved_database_url()
    upgrade(url)
    return url


@app.command()
def ingest(path: Path = typer.Argument(..., exists=True, help="a file of concatenated messages or a directory"),
           db: str | None = typer.Option(None, help="database URL (default: settings)"),
           workers: int = typer.Option(2, help="parser processes of a single writer (0 = parse inline)"),
           shards: int = typer.Option(1, help="writer processes, each owning the parcels whose order number "
                                              "routes to it (> 1: --workers is not used)"),
           batch: int = typer.Option(1000, help="messages per transaction"),
           receipts: Path | None = typer.Option(None, help="append receipt XML to this file"),
           flush: bool = typer.Option(False, help="report every still-incomplete inventory at the end"),
           as_json: bool = typer.Option(False, "--json", help="print one JSON object on stdout instead of a table"),
           quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bar (none either when stderr is "
                                                                 "not a terminal)"),
           ) -> None:
    """Ingest CEB XML messages; safe to re-run after a crash (resumes, never double-processes).

    An operator's tool run on the server: it trusts the files it is given (no sender-code check, unlike the API).
    Each unreadable message is named on stderr (file:byte offset); a summary table (or --json) follows.
    Exit status 0 once the files are processed (rejected messages are answered by receipts), 2 on a usage error.
    """
    from smartcustoms.cbec.ceb.receipts import emit_receipts
    from smartcustoms.cbec.engine import Engine
    from smartcustoms.cbec.runner import ingest_sharded, run_chunks
    from smartcustoms.cbec.store import Store

    url = _url(db)
    files = sorted(p for p in path.rglob("*.xml") if p.is_file()) if path.is_dir() else [path]
    if shards > 1:
        with progress_bar(quiet or as_json) as bar:
            bar.add_task(f"{shards} writer shards ingesting {len(files)} file(s)", total=None)
            stats = ingest_sharded(url, path, shards, batch, receipts=receipts, flush=flush)
    else:
        store = Store(url)
        engine = Engine(store)
        out = receipts.open("ab") if receipts else None
        try:
            engine.warm_start()

            def sink(rs: list) -> None:
                if out is not None:
                    out.write(emit_receipts(rs))
                    out.flush()

            # the parser processes are closed and joined by the run itself (no Pool.__del__ at exit)
            with progress_bar(quiet or as_json, bytes_total=True) as bar:
                task = bar.add_task(f"ingesting {path.name}", total=sum(f.stat().st_size for f in files))
                stats = run_chunks(engine, _chunks(engine, files, batch, lambda n: bar.update(task, completed=n)),
                                   workers=workers, sink=sink, flush=flush)
        finally:
            if out is not None:
                out.close()
            engine.log.close()
            store.close()
    for source, offset, guid, reason in stats.unreadable:  # refused at the transport level: no receipt
        where = f"{source or path}:{offset if offset is not None else '?'}"
        typer.echo(f"error: {where}: unreadable CEB message{f' (guid {guid})' if guid else ''}: {reason}", err=True)
    report = {"messages": stats.messages, "parcels_decided": stats.parcels,
              "duplicates": stats.duplicates, "rejected_messages": stats.rejected_messages,
              "unreadable_messages": len(stats.unreadable),
              "status_counts": {str(k): v for k, v in sorted(stats.status_counts.items())},
              "seconds": round(stats.elapsed_s, 3)}
    if as_json:
        typer.echo(json.dumps(report))
    else:
        _print_summary(path, report)


def _chunks(engine, files: list[Path], batch: int, done):  # type: ignore[no-untyped-def]
    """The files' message chunks from where the last run committed; ``done(bytes)`` after each one read."""
    from smartcustoms.cbec.framing import chunks_of_file

    before = 0
    for f in files:
        for chunk in chunks_of_file(f, engine.committed_offset(str(f.resolve())), batch, engine.shard,
                                    engine.shards):
            done(before + (chunk.end_offset or 0))
            yield chunk
        before += f.stat().st_size


def _print_summary(path: Path, report: dict) -> None:
    """The run's figures as a small table on stdout."""
    table = Table(title=f"CEB messages of {path.name}: {report['seconds']:.1f} s", title_justify="left")
    table.add_column("", style="bold")
    table.add_column("count", justify="right")
    for label, key in (("messages read", "messages"), ("parcels decided", "parcels_decided"),
                       ("duplicates (already processed)", "duplicates"),
                       ("messages rejected (receipts say why)", "rejected_messages"),
                       ("unreadable (named on stderr)", "unreadable_messages")):
        table.add_row(label, f"{report[key]:,}")
    from smartcustoms.cbec.senders import PLAIN_REASONS

    for status, n in report["status_counts"].items():
        name = PLAIN_REASONS.get(int(status), "") if status.isdigit() else ""
        table.add_row(f"  status {status} {name}".rstrip(), f"{n:,}")
    Console().print(table)


@app.command()
def generate(out: Path, parcels: int = typer.Option(1000), seed: int = typer.Option(42),
             signed: bool = typer.Option(False, "--signed", help="sign every message with a generated test key "
                                         "(RSA-SHA1); its certificate is written to OUT.cert.pem")) -> None:
    """Write a seeded stream of simulated parcels' messages (concatenated XML) to OUT."""
    from smartcustoms.cbec.simulate import generate as gen

    signer = None
    if signed:
        import base64

        from smartcustoms.cbec.ceb.signature import test_rsa_key

        signer = test_rsa_key(seed)
        pem = base64.encodebytes(signer.cert_der).decode()
        out.with_name(out.name + ".cert.pem").write_text(
            f"-----BEGIN CERTIFICATE-----\n{pem}-----END CERTIFICATE-----\n")
    with out.open("wb") as fh:
        for msg in gen(parcels, seed, signer=signer):
            fh.write(msg)
    typer.echo(str(out))


@app.command()
def parcel(ebp_code: str, order_no: str, db: str | None = typer.Option(None)) -> None:
    """Show a parcel's decision, tax and history."""
    from smartcustoms.cbec.service import CbecService

    typer.echo(json.dumps(CbecService(_url(db)).parcel(ebp_code, order_no), ensure_ascii=False, indent=2))


@app.command()
def quota(buyer_id_number: str, year: int, db: str | None = typer.Option(None)) -> None:
    """Show a buyer's annual quota use (CNY)."""
    from smartcustoms.cbec import quota as q
    from smartcustoms.cbec.store import Store

    with Store(_url(db)) as store:
        used = q.used_fen(store, buyer_id_number, year)
    typer.echo(f"{used / 100:.2f} of 26000.00 CNY used in {year}")


@app.command()
def decide(ebp_code: str, order_no: str, status: int, info: str = typer.Option(""),
           actor: str = typer.Option("cli"), db: str | None = typer.Option(None)) -> None:
    """Record an officer decision (800 release, 700 return, 500 inspect, ...); returns give quota back."""
    from smartcustoms.cbec.service import CbecService

    typer.echo(json.dumps(CbecService(_url(db)).set_status(ebp_code, order_no, status, info, actor),
                          ensure_ascii=False, indent=2))
