"""The MLflow side of model registration: mirror a checkpoint into the MLflow registry, move aliases, and write
the model card. (ZenML's Model Control Plane side lives in the steps; gotr1 never imports zenml.)

Aliases: ``champion`` marks the version in production, ``challenger`` the newest version that was not promoted.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

__all__ = ["mirror_to_mlflow", "model_card", "set_champion"]


def mirror_to_mlflow(
    checkpoint: Path, model_name: str, metrics: Mapping[str, float], tags: Mapping[str, str], promoted: bool
) -> str:
    """Log the checkpoint folder to an MLflow run, register it as a new version of ``model_name`` and give it
    the ``champion`` (promoted) or ``challenger`` alias. Returns the MLflow version number."""
    import mlflow

    client = mlflow.MlflowClient()
    experiment = mlflow.set_experiment("gotr1-registry")
    run = client.create_run(experiment.experiment_id, run_name=f"register-{model_name}", tags=dict(tags))
    client.log_batch(
        run.info.run_id, metrics=[mlflow.entities.Metric(k, float(v), 0, 0) for k, v in metrics.items()]
    )
    client.log_artifacts(run.info.run_id, str(checkpoint), artifact_path="policy")
    client.set_terminated(run.info.run_id)
    try:
        client.get_registered_model(model_name)
    except mlflow.exceptions.MlflowException:
        client.create_registered_model(model_name)
    version = client.create_model_version(
        model_name, source=f"{run.info.artifact_uri}/policy", run_id=run.info.run_id, tags=dict(tags)
    )
    client.set_registered_model_alias(model_name, "champion" if promoted else "challenger", version.version)
    return str(version.version)


def set_champion(model_name: str, version: str) -> None:
    """Point ``champion`` at ``version`` (promotion or rollback); the alias moves, so exactly one holds it."""
    import mlflow

    mlflow.MlflowClient().set_registered_model_alias(model_name, "champion", version)


def model_card(
    name: str, version: str, metrics: Mapping[str, float], gate: Mapping[str, object], config: str
) -> str:
    """A short markdown model card."""
    rows = "\n".join(f"| {k} | {v:.4f} |" for k, v in sorted(metrics.items()) if not k.startswith("geneval/"))
    geneval = "\n".join(f"| {k} | {v:.4f} |" for k, v in sorted(metrics.items()) if k.startswith("geneval/"))
    return f"""# {name} version {version}

A reason-then-generate text-to-image policy trained by gotr1 (SFT on GoT chains, then GRPO with GoT-R1's
dual-stage rewards). It writes a plan (objects with boxes) before it draws the image.

## Evaluation (held-out prompts)
| metric | value |
|---|---|
{rows}

## GenEval-format accuracy (plans and images)
| metric | value |
|---|---|
{geneval}

## Gate
passed: {gate.get("passed")}; reasons: {"; ".join(map(str, gate.get("reasons", []))) or "all checks passed"}

## Training config
```
{config}
```

## Limits
Trained on the synthetic world when run with the embedded default: its vocabulary is the world's, not open text.
"""
