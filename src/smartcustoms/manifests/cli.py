"""``smartcustoms manifests ...``: ingest manifest message files, reconcile."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import typer

from smartcustoms.manifests.cli_model import app as model_app

app = typer.Typer(help="Transport manifests (China customs MT messages).", no_args_is_help=True)
app.add_typer(model_app, name="model")

MAX_FILE_BYTES = 200 << 20
SUFFIXES = {".xml", ".mt", ".txt", ".edi", ".edifact"}


def _files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)
    return [path]


@app.command()
def ingest(path: Path = typer.Argument(..., exists=True, help="a message file or a folder of them"),
           filer: str = typer.Option("LOCAL", help="enterprise code the filings are recorded under"),
           as_json: bool = typer.Option(False, "--json", help="one JSON object per message"),
           db: str | None = typer.Option(None, help="database URL (default: settings)"),
           workers: int = typer.Option(0, min=0, max=8, help="parser processes beside the writer (a folder of many "
                                       "files: 1 uses the second core); 0 parses inline"),
           batch: int = typer.Option(4, min=1, max=64, help="messages stored in one transaction (each still "
                                     "accepted or refused on its own)")) -> None:
    """Ingest manifest messages: one line per message with its outcome.

    Exits 0 when every message was processed (accepted, or refused with its reasons), 1 when a file could
    not be read.
    """
    from smartcustoms.core.config import get_settings
    from smartcustoms.core.db import make_engine, session_factory, upgrade
    from smartcustoms.core.security import Principal, Role
    from smartcustoms.manifests.pipeline import ingest_bodies
    from smartcustoms.manifests.service import ManifestService

    url = db or get_settings().resolved_database_url()
    upgrade(url)
    engine = make_engine(url)
    svc = ManifestService(session_factory(engine))
    who = Principal(0, "cli", Role.ADMIN, internal=True)
    failed = False
    read: list[Path] = []  # the files read, in the order their bodies go to the intake

    def bodies() -> Iterator[bytes]:
        nonlocal failed
        for f in _files(path):
            try:
                if f.stat().st_size > MAX_FILE_BYTES:
                    raise OSError(f"larger than {MAX_FILE_BYTES} bytes")
                data = f.read_bytes()
            except OSError as exc:
                typer.echo(f"error: {f}: cannot be read: {exc}", err=True)
                failed = True
                continue
            read.append(f)
            yield data

    try:
        for res in ingest_bodies(svc, bodies(), filer, who, workers=workers, batch=batch):
            f = read[res.index]
            for a in res.answers:
                if as_json:
                    typer.echo(json.dumps({"file": str(f), **a.model_dump(mode="json")}, ensure_ascii=False))
                    continue
                head = f"{f}#{a.index} {a.message_type or '?'} {a.message_id or '?'}"
                if a.accepted:
                    outcomes = ", ".join(f"{c.transport_document_no} v{c.version}"
                                         f"{' amended' if c.amended else ''}{' late' if c.late else ''}: "
                                         f"{'withdrawn' if c.withdrawn else c.outcome}" for c in a.consignments)
                    typer.echo(f"{head}: accepted, {len(a.consignments)} consignment(s): {outcomes}")
                else:
                    why = "; ".join(f"{e.field}{f' (line {e.line})' if e.line else ''}: {e.message}"
                                    for e in a.errors)
                    typer.echo(f"{head}: {'duplicate' if a.duplicate else 'refused'}: {why}")
    finally:
        engine.dispose()
    raise typer.Exit(1 if failed else 0)


@app.command()
def reconcile(as_json: bool = typer.Option(False, "--json", help="print the run's result as one JSON object"),
              db: str | None = typer.Option(None, help="database URL (default: settings)")) -> None:
    """Reconcile manifest lines with arrival and tally reports and goods declarations; open each new discrepancy
    once (running again opens nothing new). Prints how many were found and opened, per kind."""
    from smartcustoms.core.config import get_settings
    from smartcustoms.core.db import make_engine, session_factory, upgrade
    from smartcustoms.core.security import Principal, Role
    from smartcustoms.manifests.service import ManifestService

    url = db or get_settings().resolved_database_url()
    upgrade(url)
    engine = make_engine(url)
    try:
        out = ManifestService(session_factory(engine)).reconcile(Principal(0, "cli", Role.ADMIN, internal=True))
    finally:
        engine.dispose()
    if as_json:
        typer.echo(json.dumps(out.model_dump(mode="json"), ensure_ascii=False))
        return
    kinds = ", ".join(f"{k}: {n}" for k, n in sorted(out.by_kind.items())) or "none"
    typer.echo(f"reconciled: {out.found} discrepancies found ({kinds}), {out.opened} newly opened")
