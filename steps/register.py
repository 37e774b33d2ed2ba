"""Register the trained version: ZenML Model Control Plane (metrics, data version, config, code version),
mirrored to the MLflow registry with aliases; promoted to production only when the gate passed."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Annotated, Any

from zenml import get_step_context, log_metadata, step
from zenml.enums import ModelStages
from zenml.types import MarkdownString

from gotr1.registry import mirror_to_mlflow, model_card

MODEL_NAME = "gotr1"


def _code_version() -> str:
    try:
        here = Path(__file__).resolve().parent
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, check=True
        )
        return result.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


@step(enable_cache=False)  # registration has side effects: every run registers its version
def register(
    checkpoint: Path,
    evaluation_metrics: dict[str, float],
    gate_decision: dict[str, Any],
    config: dict[str, Any] | None = None,
) -> Annotated[MarkdownString, "model_card"]:
    model = get_step_context().model
    passed = bool(gate_decision["passed"])
    config_text = json.dumps(config or {}, indent=2, sort_keys=True)
    code = _code_version()
    mlflow_version = mirror_to_mlflow(
        checkpoint,
        MODEL_NAME,
        evaluation_metrics,
        {"zenml_version": str(model.version), "code_version": code, "gate_passed": str(passed)},
        passed,
    )
    log_metadata(
        {
            "evaluation": json.dumps(evaluation_metrics),
            "gate_passed": passed,
            "gate_reasons": "; ".join(gate_decision["reasons"]) or "all checks passed",
            "mlflow_version": mlflow_version,
            "code_version": code,
            "config": config_text,
        },
        infer_model=True,
    )
    if passed:
        model.set_stage(
            ModelStages.PRODUCTION, force=True
        )  # force: the previous production version is archived
    card = model_card(MODEL_NAME, str(model.version), evaluation_metrics, gate_decision, config_text)
    return MarkdownString(card)
