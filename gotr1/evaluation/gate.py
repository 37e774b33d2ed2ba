"""The evaluation gate: configured thresholds AND no regression against the current production version."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["GateDecision", "gate_decision"]


@dataclass(frozen=True)
class GateDecision:
    passed: bool
    reasons: list[str] = field(default_factory=list)

    def as_metadata(self) -> dict[str, object]:
        return {"gate_passed": self.passed, "gate_reasons": "; ".join(self.reasons) or "all checks passed"}


def gate_decision(
    metrics: Mapping[str, float],
    thresholds: Mapping[str, float],
    production: Mapping[str, float] | None = None,
    tolerance: float = 0.02,
) -> GateDecision:
    """Pass when every ``metrics[k] >= thresholds[k]`` and, if a production version exists, no thresholded
    metric is worse than production's by more than ``tolerance`` (absolute). Every failure is a reason."""
    reasons = []
    for key, minimum in thresholds.items():
        if key not in metrics:
            reasons.append(f"{key} missing from the evaluation")
        elif not metrics[key] >= minimum:
            reasons.append(f"{key}={metrics[key]:.4f} is below the threshold {minimum:.4f}")
    if production is not None:
        for key in thresholds:
            if key in metrics and key in production and metrics[key] < production[key] - tolerance:
                reasons.append(
                    f"{key}={metrics[key]:.4f} regresses against production ({production[key]:.4f}) "
                    f"by more than {tolerance:.4f}"
                )
    return GateDecision(not reasons, reasons)
