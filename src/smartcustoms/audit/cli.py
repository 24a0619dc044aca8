"""``smartcustoms audit ...``: check the audit log's hash chain and the status traces."""

from __future__ import annotations

import json

import typer
from rich.console import Console

app = typer.Typer(help="The audit log: verify its chain and that no status changed behind the services.",
                  no_args_is_help=True)
console = Console()


@app.command()
def verify(db: str | None = typer.Option(None, help="database URL (default: settings)"),
           as_json: bool = typer.Option(False, "--json", help="print one JSON object")) -> None:
    """Recompute the audit chain and match every recorded status change with its lifecycle events.

    Exit 0 when everything holds, 1 when the chain is broken, a status changed behind the services' back
    or a guard trigger is missing, 2 when the database has no audit chain (not migrated).
    """
    from sqlalchemy import inspect

    from smartcustoms.audit.verify import verify as run
    from smartcustoms.core.config import get_settings
    from smartcustoms.core.db import dispose_engine, make_engine

    engine = make_engine(db or get_settings().resolved_database_url())
    try:
        with engine.connect() as conn:
            if not inspect(conn).has_table("audit_chain_head"):
                typer.echo("this database has no audit chain: run `smartcustoms db upgrade` first", err=True)
                raise typer.Exit(2)
            report = run(conn)
    finally:
        dispose_engine(engine)
    if as_json:
        typer.echo(json.dumps(report.as_dict(), ensure_ascii=False, default=str))
    else:
        _print(report)
    if not report.ok:
        raise typer.Exit(1)


def _print(report) -> None:
    brk = report.chain_break
    if brk is None:
        console.print(f"audit chain: [green]intact[/] ({report.entries} entries)")
    else:
        console.print(f"audit chain: [red]broken at entry {brk.entry_id}[/]: {brk.reason}")
    if not report.untraced_count:
        console.print(f"status changes: [green]all traced[/] ({report.status_changes} recorded by the triggers)")
    else:
        console.print(f"status changes: [red]{report.untraced_count} without lifecycle events[/] "
                      f"({report.status_changes} recorded by the triggers)")
        for u in report.untraced:
            console.print(f"  {u.object_type} {u.object_id}: {u.from_status} -> {u.to_status}: {u.reason}")
        if report.untraced_count > len(report.untraced):
            console.print(f"  ... and {report.untraced_count - len(report.untraced)} more")
    if report.missing_triggers:
        console.print(f"guard triggers: [red]missing[/] {', '.join(report.missing_triggers)}")
    else:
        console.print("guard triggers: [green]all in place[/]")
    console.print("[green]OK[/]" if report.ok else "[red]FAILED[/]")
