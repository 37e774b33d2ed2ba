"""Register the trained version: ZenML's Model Control Plane (model `gotr1`) mirrored to the MLflow registry, a
model card, and promotion to production when the gate passed."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import yaml
from zenml import Model, get_step_context, log_metadata, step
from zenml.enums import ModelStages
from zenml.model.utils import link_artifact_version_to_model_version
from zenml.types import MarkdownString

from gotr1.registry import GateDecision, mirror_to_mlflow, model_card, set_champion
from steps._config import MODEL_NAME, code_version, use_stack_mlflow

# The version is created when this step starts, not when the run starts: a run that stops earlier (bad data, a
# crashed trainer) leaves no half-made version behind.
GOTR1_MODEL = Model(
    name=MODEL_NAME,
    description="GoT-R1-style reason-then-generate text-to-image policy (SFT on GoT chains, then GRPO)",
    license="Apache-2.0",
    tags=["gotr1"],
)


@step(enable_cache=False, model=GOTR1_MODEL)  # side effects: every run registers its own version
def register(
    checkpoint: Path,
    evaluation_metrics: dict[str, float],
    gate_decision: dict[str, Any],
    train_records: pd.DataFrame,
    config: dict[str, Any] | None = None,
) -> Annotated[MarkdownString, "model_card"]:
    """A new version of `gotr1` carrying its metrics, data version, config, code version and gate decision; its
    checkpoint, dataset and evaluation are linked to it. Promoted to production (the previous production version
    is archived, MLflow's ``champion`` alias follows) only when the gate passed; otherwise it stays unpromoted
    with the ``challenger`` alias, and the model card says why."""
    context = get_step_context()
    version = context.model_version
    for artifacts in context.inputs.values():  # checkpoint, dataset, metrics, gate decision
        for artifact in artifacts:
            link_artifact_version_to_model_version(artifact, version)
    data = context.inputs["train_records"][0]
    decision = GateDecision(gate_decision["passed"], gate_decision["reasons"], gate_decision["checks"])
    code = code_version()
    config_yaml = yaml.safe_dump(config or {}, sort_keys=True)
    lineage = {
        "zenml_version": version.name,
        "data_version": f"{data.name}:{data.version} ({data.id})",
        "code_version": f"{code['commit']} (uncommitted changes: {code['dirty']})",
        "pipeline_run": context.pipeline_run.name,
    }
    tracking = use_stack_mlflow()
    mlflow_version = None
    if tracking:
        tags = {**lineage, "gate_passed": str(decision.passed).lower()}
        mlflow_version = mirror_to_mlflow(checkpoint, MODEL_NAME, evaluation_metrics, tags)
        lineage["mlflow_version"] = f"{MODEL_NAME} v{mlflow_version} ({tracking})"
    metadata: dict[str, Any] = {
        "metrics": evaluation_metrics,
        **decision.as_metadata(),
        "data_version": {"artifact": data.name, "version": str(data.version), "id": str(data.id)},
        "code_version": code,
        "config": config or {},
        "mlflow_version": mlflow_version or "not mirrored (no MLflow tracking URI)",
    }
    if decision.passed:
        version.set_stage(ModelStages.PRODUCTION, force=True)  # force: the old production version is archived
        if mlflow_version:
            set_champion(MODEL_NAME, mlflow_version)
        metadata["promoted_at"] = time.time()
        print(f"gate passed: {MODEL_NAME} version {version.name} is now production")
    else:
        print(f"gate failed: {MODEL_NAME} version {version.name} registered but NOT promoted")
    log_metadata(metadata, model_version_id=version.id)
    card = model_card(MODEL_NAME, version.name, evaluation_metrics, decision, lineage, config_yaml)
    return MarkdownString(card)
