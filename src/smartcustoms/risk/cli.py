"""``smartcustoms risk ...``: evaluate and replay the offence model on public datasets."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from rich import box
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
    ranking: str = typer.Option("probability", help="ranking written to --scores-out: 'probability' or 'duty'"),
    test_outcomes: str = typer.Option(
        "hidden", help="'hidden': no test outcome is ever known (default); 'lagged': known after the lag"
    ),
    scores_out: Path | None = typer.Option(
        None, dir_okay=False, help="write a CSV: declaration id, our score (max over its items)"
    ),
    seed: int = typer.Option(0, help="model seed"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object on stdout"),
) -> None:
    """Train on the train files, score the test file; compare with a plain LightGBM and random.

    Figures are given on all test declarations and on the novel goods (HS6, value and net mass never
    seen in training): overall figures are inflated when goods repeat exactly, as they do on KCS.
    """
    from smartcustoms.risk.evaluate import compare, comparison_rows, declaration_scores, figure_text

    if ranking not in ("probability", "duty") or test_outcomes not in ("lagged", "hidden"):
        err.print("[red]error:[/] --ranking is probability|duty and --test-outcomes is lagged|hidden")
        raise typer.Exit(2)
    if scores_out is not None and not scores_out.parent.is_dir():
        err.print(f"[red]error:[/] --scores-out: folder {scores_out.parent} does not exist")
        raise typer.Exit(2)
    with _steps() as say:
        say("reading files")
        train_frame = _load(dataset, list(train))
        test_frame = _load(dataset, [test])
        result = compare(train_frame, test_frame, seed=seed, test_outcomes=test_outcomes, progress=say)  # type: ignore[arg-type]
    report = {"dataset": dataset, "train": [p.name for p in train], "test": test.name, **result.report}
    if scores_out is not None:
        p = result.probabilities["ours"]
        column = "offence_probability" if ranking == "probability" else "expected_duty_at_stake"
        per_declaration = declaration_scores(test_frame, p if ranking == "probability" else p * result.duty_at_stake)
        try:
            per_declaration.rename({"score": column}).write_csv(scores_out)
        except OSError as exc:
            err.print(f"[red]error:[/] --scores-out: cannot write {scores_out}: {exc.strerror}")
            raise typer.Exit(2) from None
        report["scores_out"] = {"path": str(scores_out), "ranking": ranking, "declarations": per_declaration.height}
    if as_json:
        typer.echo(json.dumps(report))
        return
    novel = report["novel_goods"]
    out.print(
        f"risk evaluation on {test.name}: {report['n_test']:,} declarations, random {report['random']:.3f}, "
        f"test outcomes {test_outcomes}. Novel goods (HS6, value and net mass never seen in training): "
        f"{novel['n']:,} ({novel['share']:.1%}), random {figure_text(novel['random'])}. "
        "Rank by prob = offence probability, duty = expected duty at stake; duty = share of the duty at stake "
        "on offences caught."
    )
    header, rows = comparison_rows(report["contenders"])
    table = Table(box=box.SIMPLE_HEAD, padding=(0, 1), pad_edge=False, collapse_padding=True)
    for col in header:
        table.add_column(col, justify="left" if col in ("contender", "rank by") else "right")
    for i, row in enumerate(rows):
        table.add_row(*row, end_section=i + 1 < len(rows) and rows[i + 1][0] != "")
    out.print(table)
    out.print(
        "Overall figures are inflated where test goods repeat training goods exactly; the novel goods "
        f"measure targeting. Plain LightGBM: {report['plain_lightgbm']['rounds']} rounds, "
        f"{report['plain_lightgbm']['num_leaves']} leaves over the raw columns. \"ours, no exact\" drops the "
        f"{len(report['excluded_exact_match_features'])} features of families keyed on an exact value or mass."
    )
    if scores_out is not None:
        out.print(f"scores of {report['scores_out']['declarations']:,} declarations written to {scores_out}")


@app.command()
def simulate(
    dataset: str = typer.Option("kcs", help="dataset format of the files"),
    train: list[Path] = typer.Option(..., exists=True, dir_okay=False, help="training file (repeatable)"),
    test: Path = typer.Option(..., exists=True, dir_okay=False, help="test file to replay"),
    budget: float = typer.Option(0.10, min=0.0, max=1.0, help="share of declarations inspected per day"),
    exploration: float = typer.Option(0.10, min=0.0, max=1.0, help="share of the budget chosen at random"),
    labelled_share: float = typer.Option(
        0.10, help="share of the training history labelled, by replaying it under this inspection budget (1: all)"
    ),
    ipw: bool = typer.Option(True, help="weight inspected rows by their inverse selection probability"),
    history_policy: str = typer.Option("coverage", help="how the labelled history was selected: coverage, "
                                       "repeats or top"),
    known_goods: str = typer.Option("blend", help="score goods whose exact (HS6, value, mass) has inspections by "
                                    "their found-offence rate blended with the model (blend), by the model "
                                    "alone (model), or by a lookup of their known outcomes (lookup)"),
    test_policy: str = typer.Option("top", help="how the test weeks' inspections are chosen: the model's top "
                                    "scores (top) or its top scores among goods never inspected (coverage)"),
    seed: int = typer.Option(0, help="seed for model and exploration"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object on stdout"),
) -> None:
    """Week-by-week replay where the model learns only the outcomes of what it inspected.

    The training history is first replayed under a ``--labelled-share`` budget (only what that
    selection inspected is labelled); then each test week is scored, ``--budget`` of it inspected,
    and the model retrained on its own inspections, weighted by inverse selection probability.
    """
    from smartcustoms.risk.offence_model import RiskModel
    from smartcustoms.risk.replay import POLICIES
    from smartcustoms.risk.replay import simulate as run

    for name, value in (("--budget", budget), ("--labelled-share", labelled_share)):
        if not 0 < value <= 1:
            raise typer.BadParameter(f"{value} is not in (0, 1]", param_hint=name)
    if history_policy not in POLICIES:
        raise typer.BadParameter(f"{history_policy!r} is not one of {', '.join(POLICIES)}",
                                 param_hint="--history-policy")
    if known_goods not in ("blend", "model", "lookup"):
        raise typer.BadParameter(f"{known_goods!r} is not blend, model or lookup", param_hint="--known-goods")
    if test_policy not in ("top", "coverage"):
        raise typer.BadParameter(f"{test_policy!r} is not top or coverage", param_hint="--test-policy")
    with _steps() as say:
        say("reading files")
        train_frame = _load(dataset, list(train))
        test_frame = _load(dataset, [test])
        replay = run(
            train_frame,
            test_frame,
            budget=budget,
            exploration=exploration,
            labelled_share=labelled_share,
            ipw=ipw,
            policy=history_policy,  # type: ignore[arg-type]  # checked above
            known_goods="lookup" if known_goods == "lookup" else "model",
            test_policy=test_policy,  # type: ignore[arg-type]  # checked above
            seed=seed,
            make_model=lambda: RiskModel(seed=seed, known_goods=known_goods == "blend"),
            progress=say,
        )
    weeks, hist = replay.weeks, replay.history
    worst = min((w["ratio"] for w in weeks if not math.isnan(w["ratio"])), default=float("nan"))
    if as_json:
        clean = [{k: None if isinstance(v, float) and math.isnan(v) else v for k, v in w.items()} for w in weeks]
        whole = {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in replay.overall.items()}
        typer.echo(json.dumps({"weeks": clean, "min_ratio": None if math.isnan(worst) else worst, "budget": budget,
                               "exploration": exploration, "labelled_share": labelled_share, "history": hist,
                               "overall": whole}))
        return
    out.print(f"labelled history: {hist['labelled']:,} of {hist['rows']:,} training rows "
              f"({hist['labelled_share']:.1%}), {hist['offences_found']:,} offences found; "
              + ("inverse-propensity weights" if ipw else "unweighted"))

    def rate(x: float | None) -> str:
        return "-" if x is None or math.isnan(x) else f"{x:.3f}"

    def amount(x: float) -> str:
        for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
            if x >= size:
                return f"{x / size:.1f}{unit}"
        return f"{x:.0f}"

    table = Table(title=f"weekly replay of {test.name}: budget {budget:.0%}, exploration {exploration:.0%}",
                  caption="hit rate: offences found per inspection; novel: goods (HS6, value, mass) unseen in "
                          "training; duty caught: duty recovered, value x rate of the hits; ratio: model / random; "
                          "P@5 / P@10: precision of the week's top 5% / 10% scores as decided; known: rows whose "
                          "goods had a labelled outcome")
    for col in ("week", "n", "inspected", "hit rate", "model hit rate", "novel hit rate", "duty caught", "random",
                "ratio", "P@5", "P@10", "known"):
        table.add_column(col, justify="right")
    for w in weeks:
        table.add_row(
            str(w["week"]),
            f"{w['n']:,}",
            f"{w['inspected']:,}",
            rate(w["inspected_hit_rate"]),
            rate(w["hit_rate"]),
            rate(w["novel_hit_rate"]),
            amount(w["duty_recovered"]),
            rate(w["random_rate"]),
            f"{w['ratio']:.2f}x",
            rate(w.get("precision_at_5")),
            rate(w["precision_at_10"]),
            rate(w["known_share"]),
        )
    out.print(table)
    o = replay.overall
    novel_p10 = rate((o["novel_precision_at"] or {}).get("10"))
    out.print(f"whole period, scores as decided: P@5 {o['precision_at']['5']:.3f}, [bold]P@10 "
              f"{o['precision_at']['10']:.3f}[/] (novel goods P@10 {novel_p10}; random "
              f"{o['random']:.3f}); hit rate {rate(o['inspected_hit_rate'])} (model picks {rate(o['hit_rate'])}, "
              f"novel goods {rate(o['novel_hit_rate'])}); duty caught {amount(o['duty_recovered'])}")
    out.print(f"top 10%: {o['top10_known_offending']:,} rows whose goods had a labelled offence (precision "
              f"{rate(o['top10_known_offending_precision'])}), the rest {rate(o['top10_other_precision'])}; rows "
              f"with labelled goods {o['known_share']:.3f} ({o['known_from_test_share']:.3f} from test inspections)")
    out.print(f"lowest weekly ratio of model hit rate to random: [bold]{worst:.2f}x[/]")


# -- the live model registry ----------------------------------------------------------------------
def registry_call(fn: Callable[[Any, Any], Any], db: str | None = None, internal: bool = False) -> Any:
    """Run ``fn(session, who)`` in one transaction on the database ``db`` (default: the configured one), migrated
    first, as the CLI's analyst (``internal``: the platform's own principal); a domain error is a message, exit 1.
    The registry commands of ``risk`` and ``manifests model`` use it."""
    from smartcustoms.core.config import get_settings
    from smartcustoms.core.db import dispose_engine, make_engine, session_factory, transaction, upgrade
    from smartcustoms.core.errors import DomainError
    from smartcustoms.core.security import Principal, Role

    url = db or get_settings().resolved_database_url()
    upgrade(url)
    engine = make_engine(url)
    who = Principal(0, "cli", Role.ANALYST, internal=internal)
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

    v = registry_call(lambda s, who: train_candidate(s, who, holdout_days=holdout_days, num_boost_round=rounds))
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

    v = registry_call(lambda s, who: do_promote(s, version, who))
    typer.echo(f"model {v.version} is live")


@app.command()
def rollback() -> None:
    """Retire the live model and bring back the one promoted before it."""
    from smartcustoms.risk.targeting.service import rollback as do_rollback

    v = registry_call(lambda s, who: do_rollback(s, who))
    typer.echo(f"model {v.version} is live again")


@app.command()
def models() -> None:
    """The model registry."""
    from smartcustoms.risk.targeting.service import list_models

    for v in registry_call(lambda s, who: list_models(s)):
        p = (v.metrics.get("candidate") or {}).get("precision_at", {})
        typer.echo(f"{v.version:4d}  {v.status:11s}  trained {v.created_at:%Y-%m-%d %H:%M} by {v.trained_by}"
                   f"  P@10% {p.get('10', float('nan')):.3f}")
