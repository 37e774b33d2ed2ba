"""The evaluation gate: configured thresholds AND no regression against the current production version."""

from __future__ import annotations

from typing import Annotated, Any

from zenml import log_metadata, step
from zenml.client import Client
from zenml.enums import ModelStages

from gotr1.registry import gate_decision
from steps._config import MODEL_NAME


def production_metrics(model_name: str = MODEL_NAME) -> tuple[str | None, dict[str, float] | None]:
    """The production version's name and recorded evaluation metrics, or ``(None, None)`` when no version of
    ``model_name`` is in production."""
    try:
        version = Client().get_model_version(model_name, ModelStages.PRODUCTION)
    except KeyError:
        return None, None
    metrics = version.run_metadata.get("metrics")
    return version.name, dict(metrics) if isinstance(metrics, dict) else None


@step(enable_cache=False)  # reads the current production version: an old decision is never reused
def gate(
    evaluation_metrics: dict[str, float],
    minimums: dict[str, float],
    maximums: dict[str, float] | None = None,
    tolerance: float = 0.02,
) -> Annotated[dict[str, Any], "gate_decision"]:
    """Thresholds (``metric >= minimum``, ``metric <= maximum``) and, against production, no gated metric worse
    by more than ``tolerance``. A failed gate does not fail the run: the version is registered unpromoted."""
    production, metrics = production_metrics()
    decision = gate_decision(evaluation_metrics, minimums, metrics, tolerance, maximums)
    log_metadata({**decision.as_metadata(), "compared_with_production_version": production or "none"})
    if not decision.passed:
        print(f"GATE FAILED, the new version will stay unpromoted: {'; '.join(decision.reasons)}")
    return {**decision.as_dict(), "production_version": production}
