"""The ``smartcustoms`` command: serve, demo, declarations, users and keys; domain sub-commands."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.table import Table

from smartcustoms.audit.cli import app as audit_cli
from smartcustoms.cbec.cli import app as cbec_cli
from smartcustoms.core.cli_support import bars_enabled, hide_type_tags, progress_bar, read_password
from smartcustoms.manifests.cli import app as manifests_cli
from smartcustoms.risk.cli import app as risk_cli

if TYPE_CHECKING:
    from smartcustoms.declarations.ingest import ParsedRecord, ProblemLog
    from smartcustoms.platform import Platform

hide_type_tags()
app = typer.Typer(help="smartcustoms: single window, risk targeting, CBEC clearance, tax and AEO.",
                  epilog="Exit status: 0 done; 1 something was rejected or failed (each reason on stderr); "
                         "2 usage error (a bad option or value).",
                  no_args_is_help=True, rich_markup_mode="markdown")
console = Console()
err = Console(stderr=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
decl_app = typer.Typer(help="Declarations in bulk.", no_args_is_help=True)
users_app = typer.Typer(help="Users and API keys.", no_args_is_help=True)
images_app = typer.Typer(help="Scan images: DICOM network intake from scanners.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(decl_app, name="declarations")
app.add_typer(users_app, name="users")
app.add_typer(images_app, name="images")

# the domains' commands
app.add_typer(risk_cli, name="risk")
app.add_typer(cbec_cli, name="cbec")
app.add_typer(manifests_cli, name="manifests")
app.add_typer(audit_cli, name="audit")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply all migrations to the configured database."""
    from smartcustoms.core.config import get_settings
    from smartcustoms.core.db import upgrade

    url = get_settings().resolved_database_url()
    upgrade(url)
    console.print(f"database at [bold]{url}[/] is up to date")


@app.command()
def demo(declarations: int = typer.Option(3000, help="simulated declarations to lodge on first load"),
         parcels: int = typer.Option(2000, help="simulated CBEC parcels to clear on first load"),
         seed: int = typer.Option(7, help="simulation seed"),
         quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bars (none either when stderr "
                                                               "is not a terminal)")) -> None:
    """Load demo data (once) and print fresh API keys for each demo user."""
    os.environ.setdefault("SMARTCUSTOMS_CBEC_ACCEPT_UNSIGNED", "1")  # the demo's simulated parcels are unsigned
    from smartcustoms.platform import build_platform
    from smartcustoms.simulate.demo import DEMO_PASSWORD, load_demo

    platform = build_platform()
    example = platform.settings.data_dir / "demo" / "declaration.json"
    with progress_bar(quiet) as progress:
        access = load_demo(platform, declarations, seed, example_path=example, parcels=parcels, progress=progress)
    _print_access(platform.settings.host, platform.settings.port, access.keys, example, DEMO_PASSWORD)


def _print_access(host: str, port: int, keys: dict[str, str], example: Path, password: str) -> None:
    url = f"http://{host}:{port}"
    table = Table(title="demo users (web login password: " + password + ")")
    table.add_column("user")
    table.add_column("API key (X-API-Key)")
    for user, key in keys.items():
        table.add_row(user, key)
    console.print(table)
    console.print(f"smartcustoms: [bold]{url}[/]  (API docs: {url}/docs)")
    console.print("lodge the example declaration as trader1:\n"
                  f"  curl -s -H 'X-API-Key: {keys.get('trader1', '')}' -H 'Content-Type: application/json' "
                  f"--data @{example} {url}/api/v1/declarations", soft_wrap=True)


@app.command()
def serve(host: str = typer.Option(None, help="default SMARTCUSTOMS_HOST or 127.0.0.1"),
          port: int = typer.Option(None, help="default SMARTCUSTOMS_PORT or 8000"),
          demo_data: bool = typer.Option(False, "--demo", help="load demo data first and print keys"),
          workers: int = typer.Option(1, help="must be 1: one process serves (see docs/web.md)")) -> None:
    """Serve the API and web pages (one process)."""
    if workers != 1:
        # Several processes would each run their own CBEC writer over the same shards, and each keep its own
        # sign-in throttle and API-key cache (a deactivated user's keys would live on in the others).
        err.print("error: --workers must be 1: smartcustoms serves from one process (its CBEC writer, "
                  "sign-in throttle and API-key cache live in it); for bulk CBEC intake use "
                  "`smartcustoms cbec ingest --shards N`")
        raise typer.Exit(2)
    import uvicorn

    from smartcustoms.core.config import get_settings

    settings = get_settings()
    host, port = host or settings.host, port or settings.port
    if demo_data:
        os.environ.setdefault("SMARTCUSTOMS_CBEC_ACCEPT_UNSIGNED", "1")  # the demo accepts unsigned CEB621
        settings.host, settings.port = host, port
        demo(declarations=3000, parcels=2000, seed=7)
    else:
        console.print(f"smartcustoms: [bold]http://{host}:{port}[/]  (API docs: http://{host}:{port}/docs)")
    uvicorn.run("smartcustoms.web.app:serve_app", factory=True, host=host, port=port, workers=workers,
                log_level="warning")


@images_app.command("scp")
def images_scp(port: int = typer.Option(11112, min=0, max=65535, help="TCP port to listen on (DICOM: 104 or 11112)"),
               host: str = typer.Option(None, help="address to bind; default SMARTCUSTOMS_HOST or 127.0.0.1")) -> None:
    """Receive scans from registered scanners over DICOM (C-STORE SCP) into the image review.

    Scanners are registered by calling AE title in SMARTCUSTOMS_IMAGES_SCP_SCANNERS (JSON: offices, subject
    kind, the attribute naming the subject); every other AE is refused. With SMARTCUSTOMS_IMAGES_SCP_TLS_CERTIFICATE,
    _KEY and _CA it speaks DICOM over TLS only and requires each scanner's client certificate; with _TLS_CRL it
    refuses revoked ones. Changed TLS files are loaded on an association (at most every
    SMARTCUSTOMS_IMAGES_SCP_TLS_RELOAD_SECONDS) or at once on SIGHUP, without a restart. Exit status 2 when the
    registration or the TLS settings are not valid. See docs/images.md, "DICOM network intake".
    """
    import logging

    from smartcustoms.core.errors import ValidationProblem
    from smartcustoms.inspection.images.scp import ScanReceiver
    from smartcustoms.inspection.images.scp_tls import reload_on_sighup
    from smartcustoms.platform import build_platform

    platform = build_platform()
    # each scan received or refused, one line (pynetdicom's own association chatter only from warnings up)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("pynetdicom").setLevel(logging.WARNING)
    try:
        receiver = ScanReceiver(platform.images, platform.settings)
    except ValidationProblem as exc:
        for e in exc.errors:
            err.print(f"error: {e.field}: {e.message}", soft_wrap=True, markup=False)
        platform.close()
        raise typer.Exit(2) from None
    bind = host or platform.settings.host
    tls = " (plaintext: no TLS settings)"
    if receiver.tls is not None:
        reload_on_sighup(receiver.tls)
        revoked = ", revoked ones refused" if platform.settings.images_scp_tls_crl else ""
        tls = f" over TLS, client certificates required{revoked}; SIGHUP reloads the TLS files"
    console.print(f"smartcustoms: DICOM C-STORE SCP [bold]{receiver.ae_title}[/] on {bind}:{port} for "
                  f"{', '.join(sorted(receiver.scanners))}{tls}")
    try:
        receiver.start(bind, port, block=True)
    finally:
        platform.close()


@decl_app.command("ingest")
def ingest(path: Path = typer.Argument(..., exists=True, dir_okay=False, help=".jsonl or .csv"),
           batch: int = typer.Option(500, min=1, help="declarations lodged per transaction"),
           as_json: bool = typer.Option(False, "--json", help="print one JSON report on stdout instead of lines"),
           quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bar (none either when stderr is "
                                                                 "not a terminal)")) -> None:
    """Lodge declarations from a file; each rejection is printed as ``file:line: column: reason``.

    A table of the declarations lodged and a count follow. Exit status 1 when any declaration was rejected
    (a file problem, a field error or a rejection on a rule), 0 when every one was lodged or had been lodged
    before, 2 on a usage error.
    """
    import json

    from smartcustoms.declarations.ingest import ProblemLog, batches, parse_file
    from smartcustoms.platform import build_platform

    platform = build_platform()
    problems = ProblemLog(platform.settings.upload_max_problems)
    stored: list[dict] = []
    counts = {"lodged": 0, "already": 0, "rejected": 0}
    text = path.read_text("utf-8-sig")
    records = parse_file(path.name, text, platform.codes)
    with progress_bar(quiet or as_json) as bar:
        task = bar.add_task(f"lodging {path.name} (lines)", total=text.count("\n") + 1)
        for chunk in batches(records, batch):  # lazily: never every record
            for line, column, message in _lodge(platform, chunk, problems, stored, counts):
                if as_json:
                    continue
                if bars_enabled(quiet):  # above the live bar
                    bar.console.print(f"{path}:{line}: {column}: {message}", markup=False, highlight=False,
                                      soft_wrap=True)
                else:
                    typer.echo(f"{path}:{line}: {column}: {message}", err=True)
            bar.update(task, completed=max(r.line for r in chunk))
    ok, repeated, bad = counts["lodged"], counts["already"], counts["rejected"]
    if as_json:
        typer.echo(json.dumps({"file": str(path), "lodged": ok, "already_lodged": repeated, "rejected": bad,
                               "problems": [{"line": p["line"], "column": p["field"], "reason": p["message"]}
                                            for p in problems.by_line()],
                               "problem_count": problems.count, "declarations": stored}, ensure_ascii=False))
    else:
        if problems.dropped:
            typer.echo(f"{path}: ... and {problems.dropped} more problems ({problems.count} in all)", err=True)
        if stored:
            table = Table(title=f"declarations of {path.name}", title_justify="left")
            for column in ("line", "declaration no.", "status", "lane", "new"):
                table.add_column(column, justify="right" if column == "line" else "left")
            for d in stored[:SUMMARY_ROWS]:
                table.add_row(str(d["line"]), d["declaration_no"], d["status"] or "", d["lane"] or "",
                              "yes" if d["new"] else "no (lodged before)")
            if len(stored) > SUMMARY_ROWS:
                table.caption = f"the first {SUMMARY_ROWS}; --json lists up to {problems.keep}"
            console.print(table)
        console.print(f"lodged {ok}, already lodged {repeated}, rejected {bad}")
    if bad:
        raise typer.Exit(1)


SUMMARY_ROWS = 20  # declarations listed in the summary table


def _lodge(platform: Platform, chunk: list[ParsedRecord], problems: ProblemLog, stored: list[dict],
           counts: dict[str, int]) -> list[tuple[int, str, str]]:
    """Lodge one batch of parsed records; count the outcomes, keep the first stored ones; the problems kept."""
    from smartcustoms.core.security import SYSTEM
    from smartcustoms.declarations.ingest import lodge_chunk

    found: list[tuple[int, str, str]] = []
    for res in lodge_chunk(platform.declarations, SYSTEM, chunk):
        found += res.problems
        counts["rejected" if res.rejected else "lodged" if res.created else "already"] += 1
        if res.declaration_no and len(stored) < problems.keep:
            stored.append({"line": res.line, "declaration_no": res.declaration_no, "status": res.status,
                           "lane": res.lane, "new": res.created})
    return [p for p in sorted(found, key=lambda p: p[0]) if problems.add(*p)]


@users_app.command("create")
def create_user_cmd(username: str = typer.Argument(..., help="the user's sign-in name"),
                    role: str = typer.Option(..., help="trader, officer, analyst or admin"),
                    enterprise: str = typer.Option(None, help="enterprise code (traders)"),
                    password_stdin: bool = typer.Option(False, "--password-stdin",
                                                        help="read the password from stdin's first line")) -> None:
    """Create a user. The password is never taken from the command line.

    It comes from stdin with `--password-stdin`, else from $SMARTCUSTOMS_NEW_USER_PASSWORD (scripts),
    else from a hidden prompt when run at a terminal; without any, the user has no password (API keys only).
    Exit status 1 when the user is refused (each field's reason on stderr), 2 on a usage error.
    """
    from pydantic import ValidationError

    from smartcustoms.core.db import transaction
    from smartcustoms.core.errors import DomainError
    from smartcustoms.core.security import SYSTEM
    from smartcustoms.enterprises.schemas import UserIn
    from smartcustoms.enterprises.service import create_user
    from smartcustoms.platform import build_platform

    password = read_password(password_stdin)
    try:
        user = UserIn(username=username, role=role, enterprise_code=enterprise, password=password)
    except ValidationError as exc:
        err.print("error: the user is not valid: " + "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg'].removeprefix('Value error, ')}" for e in exc.errors()),
            markup=False, soft_wrap=True)
        raise typer.Exit(1) from None
    platform = build_platform()
    try:
        with transaction(platform.sessions) as s:
            create_user(s, user, SYSTEM)
    except DomainError as exc:
        err.print(f"error: {exc.detail}: " + "; ".join(f"{e.field}: {e.message}" for e in exc.errors))
        raise typer.Exit(1) from None
    console.print(f"user {username} created")


@users_app.command("key")
def create_key_cmd(username: str, label: str = "") -> None:
    """Make an API key for a user and print it (it is shown only once)."""
    from smartcustoms.core.db import transaction
    from smartcustoms.core.security import SYSTEM
    from smartcustoms.enterprises.service import create_api_key
    from smartcustoms.platform import build_platform

    platform = build_platform()
    with transaction(platform.sessions) as s:
        console.print(create_api_key(s, username, label, SYSTEM))


if __name__ == "__main__":
    app()
