"""The evaluation gate: thresholds AND no regression against the current production version of `gotr1`."""

from __future__ import annotations

import json
from typing import Annotated

from zenml import log_metadata, step
from zenml.client import Client
from zenml.enums import ModelStages

from gotr1.evaluation.gate import gate_decision

MODEL_NAME = "gotr1"


def production_metrics() -> dict[str, float] | None:
    """The evaluation metrics recorded on the production version, or None when there is none."""
    try:
        version = Client().get_model_version(MODEL_NAME, ModelStages.PRODUCTION)
    except KeyError:
        return None
    recorded = version.run_metadata.get("evaluation")
    return json.loads(recorded) if isinstance(recorded, str) else None


@step(enable_cache=False)  # reads the current production version: never reuse an old decision
def gate(
    evaluation_metrics: dict[str, float], thresholds: dict[str, float], tolerance: float = 0.02
) -> Annotated[dict[str, object], "gate_decision"]:
    decision = gate_decision(evaluation_metrics, thresholds, production_metrics(), tolerance)
    log_metadata(decision.as_metadata(), infer_model=True)
    if not decision.passed:
        print(f"GATE FAILED, the version stays unpromoted: {'; '.join(decision.reasons)}")
    return {"passed": decision.passed, "reasons": decision.reasons}
