"""``smartcustoms manifests model ...``: train, compare, promote and roll back the pre-loading model (the risk
model registry, ``kind = 'manifest'``), as ``smartcustoms risk`` does for the declaration model."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import typer

app = typer.Typer(help="The pre-loading model in the model registry.", no_args_is_help=True)


def _call(fn: Callable[[Any, Any], Any], db: str | None) -> Any:
    """``fn(session, who)`` in one transaction on the (migrated) database; a domain error is a message, exit 1."""
    from smartcustoms.risk.cli import registry_call

    return registry_call(fn, db, internal=True)


def _precision(m: dict | None, k: str) -> str:
    p = (m or {}).get("precision_at", {}).get(k)
    return "  —  " if p is None else f"{p:.3f}"


@app.command()
def train(holdout_share: float = typer.Option(0.2, min=0.01, max=0.49, help="the most recent share of decided "
                                              "referrals held out to compare candidate, live model and rules"),
          rounds: int = typer.Option(150, min=10, max=2000, help="boosting rounds"),
          as_json: bool = typer.Option(False, "--json", help="print the version as one JSON object"),
          db: str | None = typer.Option(None, help="database URL (default: settings)")) -> None:
    """Train a candidate from the decided referrals in the database and compare it on the latest ones."""
    from smartcustoms.manifests.registry import ManifestModelSettings, train_manifest_candidate

    ms = ManifestModelSettings(holdout_share=holdout_share)
    v = _call(lambda s, who: train_manifest_candidate(s, who, model_settings=ms, rounds=rounds), db)
    if as_json:
        typer.echo(json.dumps(v.model_dump(mode="json"), ensure_ascii=False))
        return
    m = v.metrics
    typer.echo(f"candidate manifest model {v.version}: trained on {m['n_train']} decided referrals "
               f"({v.training_from:%Y-%m-%d %H:%M} .. {v.training_to:%Y-%m-%d %H:%M}); "
               f"{m['n_without_decision_ignored']} filings without a decision contribute no row")
    for name in ("candidate", "live", "rules"):
        if m.get(name):
            typer.echo(f"  {name:9s} on the last {m['n_holdout']} decided referrals (offence rate "
                       f"{m[name]['offence_rate']:.3f}): P@5% {_precision(m[name], '5')}  "
                       f"P@10% {_precision(m[name], '10')}  P@20% {_precision(m[name], '20')}")
    if not m.get("candidate"):
        typer.echo("  no decided referral held out to compare on")
    typer.echo(f"promote it with: smartcustoms manifests model promote {v.version}")


@app.command()
def promote(version: int, db: str | None = typer.Option(None, help="database URL (default: settings)")) -> None:
    """Make a manifest-model version the live one (audited; serving processes pick it up within a minute)."""
    from smartcustoms.manifests.registry import promote_manifest_model

    v = _call(lambda s, who: promote_manifest_model(s, version, who), db)
    typer.echo(f"manifest model {v.version} is live")


@app.command()
def rollback(db: str | None = typer.Option(None, help="database URL (default: settings)")) -> None:
    """Retire the live manifest model and bring back the one promoted before it (audited)."""
    from smartcustoms.manifests.registry import rollback_manifest_model

    v = _call(lambda s, who: rollback_manifest_model(s, who), db)
    typer.echo(f"manifest model {v.version} is live again")


@app.command(name="list")
def list_(db: str | None = typer.Option(None, help="database URL (default: settings)")) -> None:
    """The manifest models in the registry, oldest first."""
    from smartcustoms.manifests.registry import list_manifest_models

    for v in _call(lambda s, who: list_manifest_models(s), db):
        typer.echo(f"{v.version:4d}  {v.status:11s}  trained {v.created_at:%Y-%m-%d %H:%M} by {v.trained_by}  "
                   f"P@10% {_precision(v.metrics.get('candidate'), '10')}")
