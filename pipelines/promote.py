"""Promote a version of `gotr1` to production, or roll back to the version that was production before.

    python -m pipelines.promote --version 3     # version 3 becomes production
    python -m pipelines.promote --rollback      # the previous production version comes back
    python -m pipelines.promote --list          # every version: stage, gate, promotion time, MLflow version

Exactly one version holds the production stage at any time (the one that held it is archived), and MLflow's
``champion`` alias follows (on the active stack's MLflow tracker, else ``MLFLOW_TRACKING_URI``). Every
promotion, by the training pipeline's gate or by this command, records ``promoted_at`` on the version; a
rollback goes to the most recently promoted version other than the current one.
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

from zenml import log_metadata
from zenml.client import Client
from zenml.enums import ModelStages

from gotr1.registry import previous_production, set_champion
from steps._config import MODEL_NAME, use_stack_mlflow

__all__ = ["list_versions", "promote", "rollback"]


def _versions(model_name: str) -> list[Any]:
    client = Client()
    numbers = [v.number for v in client.list_model_versions(model_name, size=1000).items]
    return [client.get_model_version(model_name, n) for n in sorted(numbers)]


def promote(version: int | str, model_name: str = MODEL_NAME) -> int:
    """Make ``version`` (a number or name) the production version; returns its number."""
    model_version = Client().get_model_version(model_name, version)
    model_version.set_stage(ModelStages.PRODUCTION, force=True)
    log_metadata({"promoted_at": time.time()}, model_version_id=model_version.id)
    mlflow_version = model_version.run_metadata.get("mlflow_version")
    champion = "not mirrored"
    if use_stack_mlflow() and isinstance(mlflow_version, str) and mlflow_version.isdigit():
        set_champion(model_name, mlflow_version)
        champion = f"MLflow champion -> version {mlflow_version}"
    print(f"{model_name} version {model_version.number} is production ({champion})")
    return model_version.number


def rollback(model_name: str = MODEL_NAME) -> int:
    """Bring back the version that was production before the current one; returns its number."""
    try:
        current = Client().get_model_version(model_name, ModelStages.PRODUCTION)
    except KeyError as err:
        raise SystemExit(f"{model_name} has no production version: nothing to roll back") from err
    history = {
        v.number: float(v.run_metadata["promoted_at"])
        for v in _versions(model_name)
        if isinstance(v.run_metadata.get("promoted_at"), int | float)
    }
    target = previous_production(history, current.number)
    if target is None:
        raise SystemExit(f"{model_name}: no version was production before version {current.number}")
    return promote(target, model_name)


def list_versions(model_name: str = MODEL_NAME) -> list[dict[str, Any]]:
    """One row per version: number, stage, gate decision, last promotion time, MLflow version."""
    rows = []
    for v in _versions(model_name):
        meta = v.run_metadata
        promoted = meta.get("promoted_at")
        rows.append(
            {
                "version": v.number,
                "stage": v.stage or "-",
                "gate_passed": meta.get("gate_passed", "-"),
                "promoted_at": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(promoted))
                if promoted
                else "-",
                "mlflow_version": meta.get("mlflow_version", "-"),
            }
        )
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m pipelines.promote",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--version", help="the version number (or name) to make production")
    group.add_argument("--rollback", action="store_true", help="go back to the previous production version")
    group.add_argument("--list", action="store_true", help="list the versions and their stages")
    parser.add_argument("--model", default=MODEL_NAME, help=f"the model name (default {MODEL_NAME})")
    args = parser.parse_args(argv)
    os.environ.setdefault("ZENML_ANALYTICS_OPT_IN", "false")
    if args.rollback:
        rollback(args.model)
    elif args.list:
        for row in list_versions(args.model):
            print("  ".join(f"{k}={v}" for k, v in row.items()))
    else:
        promote(int(args.version) if str(args.version).isdigit() else args.version, args.model)


if __name__ == "__main__":
    main()
