"""``smartcustoms risk ...``: evaluate and replay the offence model on public datasets."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

app = typer.Typer(help="Risk targeting: evaluate and replay the offence model; the live model registry.",
                  no_args_is_help=True)
out = Console()
err = Console(stderr=True)
DATASETS = ("kcs",)


def _load(dataset: str, paths: list[Path]):
    from smartcustoms.risk.datasets.kcs import KcsFormatError, read_kcs_files

    if dataset not in DATASETS:
        err.print(f"[red]error:[/] unknown dataset {dataset!r}; known: {', '.join(DATASETS)}")
        raise typer.Exit(2)
    try:
        return read_kcs_files(paths)
    except KcsFormatError as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None


@contextmanager
def _steps(enabled: bool = True) -> Iterator:
    """A Rich progress display on stderr; yields a callable ``say(message)``."""
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not enabled,
    ) as progress:
        task = progress.add_task("starting", total=None)
        yield lambda message: progress.update(task, description=message)


@app.command()
def evaluate(
    dataset: str = typer.Option("kcs", help="dataset format of the files"),
    train: list[Path] = typer.Option(..., exists=True, dir_okay=False, help="training file (repeatable)"),
    test: Path = typer.Option(..., exists=True, dir_okay=False, help="test file"),
    ranking: str = typer.Option("probability", help="'probability' or 'duty' (expected duty at stake)"),
    test_outcomes: str = typer.Option("lagged", help="'lagged': test results known after the lag; 'hidden'"),
    seed: int = typer.Option(0, help="model seed"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object on stdout"),
) -> None:
    """Train on the train files, score the test file, print precision/recall/duty share at k%."""
    from smartcustoms.risk.evaluate import evaluate as run
    from smartcustoms.risk.offence_model import RiskModel

    if ranking not in ("probability", "duty") or test_outcomes not in ("lagged", "hidden"):
        err.print("[red]error:[/] --ranking is probability|duty and --test-outcomes is lagged|hidden")
        raise typer.Exit(2)
    with _steps() as say:
        say("reading files")
        train_frame = _load(dataset, list(train))
        test_frame = _load(dataset, [test])
        result = run(
            train_frame,
            test_frame,
            model=RiskModel(seed=seed),
            ranking=ranking,  # type: ignore[arg-type]
            test_outcomes=test_outcomes,  # type: ignore[arg-type]
            progress=say,
        )
    m = result.metrics
    if as_json:
        keys = ("precision_at", "recall_at", "duty_share_at", "random", "lift_points_at", "n_test")
        typer.echo(json.dumps({k: m[k] for k in keys}))
        return
    table = Table(title=f"risk evaluation on {test.name} ({m['n_test']:,} declarations, random {m['random']:.3f})")
    for col in ("k%", "precision", "recall", "duty share caught", "random", "lift (points)"):
        table.add_column(col, justify="right")
    for k in m["precision_at"]:
        table.add_row(
            f"{k}%",
            f"{m['precision_at'][k]:.3f}",
            f"{m['recall_at'][k]:.3f}",
            f"{m['duty_share_at'][k]:.3f}",
            f"{m['random']:.3f}",
            f"{m['lift_points_at'][k]:+.1f}",
        )
    out.print(table)


@app.command()
def simulate(
    dataset: str = typer.Option("kcs", help="dataset format of the files"),
    train: list[Path] = typer.Option(..., exists=True, dir_okay=False, help="training file (repeatable)"),
    test: Path = typer.Option(..., exists=True, dir_okay=False, help="test file to replay"),
    budget: float = typer.Option(0.10, min=0.0, max=1.0, help="share of declarations inspected per day"),
    exploration: float = typer.Option(0.10, min=0.0, max=1.0, help="share of the budget chosen at random"),
    seed: int = typer.Option(0, help="seed for model and exploration"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object on stdout"),
) -> None:
    """Week-by-week replay where the model learns only the outcomes of what it inspected."""
    from smartcustoms.risk.offence_model import RiskModel
    from smartcustoms.risk.replay import simulate as run

    with _steps() as say:
        say("reading files")
        train_frame = _load(dataset, list(train))
        test_frame = _load(dataset, [test])
        weeks = run(
            train_frame,
            test_frame,
            budget=budget,
            exploration=exploration,
            seed=seed,
            make_model=lambda: RiskModel(seed=seed),
            progress=say,
        )
    worst = min((w["ratio"] for w in weeks if not math.isnan(w["ratio"])), default=float("nan"))
    if as_json:
        typer.echo(json.dumps({"weeks": weeks, "min_ratio": worst, "budget": budget, "exploration": exploration}))
        return
    table = Table(title=f"weekly replay of {test.name}: budget {budget:.0%}, exploration {exploration:.0%}")
    for col in ("week", "n", "inspected", "hits", "hit rate (model)", "hit rate (all)", "random", "ratio"):
        table.add_column(col, justify="right")
    for w in weeks:
        table.add_row(
            str(w["week"]),
            f"{w['n']:,}",
            f"{w['inspected']:,}",
            f"{w['hits']:,}",
            f"{w['hit_rate']:.3f}",
            f"{w['inspected_hit_rate']:.3f}",
            f"{w['random_rate']:.3f}",
            f"{w['ratio']:.2f}x",
        )
    out.print(table)
    out.print(f"lowest weekly ratio of model hit rate to random: [bold]{worst:.2f}x[/]")


# -- the live model registry ----------------------------------------------------------------------
def _registry_call(fn):
    """Run ``fn(session, who)`` in one transaction on the configured database (migrated), errors as messages."""
    from smartcustoms.core.config import get_settings
    from smartcustoms.core.db import dispose_engine, make_engine, session_factory, transaction, upgrade
    from smartcustoms.core.errors import DomainError
    from smartcustoms.core.security import Principal, Role

    url = get_settings().resolved_database_url()
    upgrade(url)
    engine = make_engine(url)
    who = Principal(0, "cli", Role.ANALYST)
    try:
        with transaction(session_factory(engine)) as s:
            return fn(s, who)
    except DomainError as exc:
        typer.echo(f"error: {exc.detail}", err=True)
        raise typer.Exit(1) from None
    finally:
        dispose_engine(engine)


@app.command()
def retrain(holdout_days: int = typer.Option(14, help="most recent days held out to compare candidate and live"),
            rounds: int | None = typer.Option(None, help="boosting rounds (default: the model's default)")) -> None:
    """Train a candidate on inspection results and compare it with the live model on the latest period."""
    from smartcustoms.risk.targeting.service import train_candidate

    v = _registry_call(lambda s, who: train_candidate(s, who, holdout_days=holdout_days, num_boost_round=rounds))
    typer.echo(f"candidate version {v.version}: trained on {v.metrics['n_train']} labelled items "
               f"({v.training_from} .. {v.training_to})")
    for name in ("candidate", "live"):
        m = v.metrics.get(name)
        if m:
            p = m["precision_at"]
            typer.echo(f"  {name:9s} on the last {holdout_days} days ({m['n_test']} inspected items, random "
                       f"{m['random']:.3f}): P@5% {p['5']:.3f}  P@10% {p['10']:.3f}  P@20% {p['20']:.3f}")
    if not v.metrics.get("candidate"):
        typer.echo("  too few recent inspection results to compare on a holdout period")
    typer.echo(f"promote it with: smartcustoms risk promote {v.version}")


@app.command()
def promote(version: int) -> None:
    """Make a model version the live one (the running server picks it up on restart or via the API)."""
    from smartcustoms.risk.targeting.service import promote as do_promote

    v = _registry_call(lambda s, who: do_promote(s, version, who))
    typer.echo(f"model {v.version} is live")


@app.command()
def rollback() -> None:
    """Retire the live model and bring back the one promoted before it."""
    from smartcustoms.risk.targeting.service import rollback as do_rollback

    v = _registry_call(lambda s, who: do_rollback(s, who))
    typer.echo(f"model {v.version} is live again")


@app.command()
def models() -> None:
    """The model registry."""
    from smartcustoms.risk.targeting.service import list_models

    for v in _registry_call(lambda s, who: list_models(s)):
        p = (v.metrics.get("candidate") or {}).get("precision_at", {})
        typer.echo(f"{v.version:4d}  {v.status:11s}  trained {v.created_at:%Y-%m-%d %H:%M} by {v.trained_by}"
                   f"  P@10% {p.get('10', float('nan')):.3f}")
