"""Promote a version of `gotr1` to production, or roll back to the previous production version.

    python -m pipelines.promote --version 3     # version 3 becomes production (MLflow alias champion follows)
    python -m pipelines.promote --rollback      # the most recent earlier version that was production comes back

Exactly one version holds the production stage at any time: promotion archives the previous one.
"""

from __future__ import annotations

import argparse

from zenml.client import Client
from zenml.enums import ModelStages

from gotr1.registry import set_champion

MODEL_NAME = "gotr1"


def promote(version: int | str, model_name: str = MODEL_NAME) -> None:
    model_version = Client().get_model_version(model_name, version)
    model_version.set_stage(ModelStages.PRODUCTION, force=True)
    mlflow_version = model_version.run_metadata.get("mlflow_version")
    if mlflow_version:
        set_champion(model_name, str(mlflow_version))
    print(f"{model_name} version {model_version.number} is production (MLflow champion: {mlflow_version})")


def rollback(model_name: str = MODEL_NAME) -> None:
    """Bring back the newest archived version that was once promoted (its ``promoted`` metadata is set)."""
    client = Client()
    current = client.get_model_version(model_name, ModelStages.PRODUCTION)
    earlier = [
        v
        for v in client.list_model_versions(model_name, size=1000).items
        if v.number < current.number and v.run_metadata.get("gate_passed") is True
    ]
    if not earlier:
        raise SystemExit(
            f"no earlier promoted version of {model_name} to roll back to (production is {current.number})"
        )
    promote(max(earlier, key=lambda v: v.number).number, model_name)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--version", help="the version number (or name) to promote")
    group.add_argument("--rollback", action="store_true", help="go back to the previous promoted version")
    parser.add_argument("--model", default=MODEL_NAME)
    args = parser.parse_args()
    if args.rollback:
        rollback(args.model)
    else:
        promote(int(args.version) if str(args.version).isdigit() else args.version, args.model)


if __name__ == "__main__":
    main()
