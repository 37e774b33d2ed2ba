"""Model registry logic without ZenML: the evaluation gate, promotion history, the MLflow mirror, the model card.

The pipelines keep the authoritative registry in ZenML's Model Control Plane (model ``gotr1``, one version per
training run, exactly one version in the ``production`` stage) and mirror every version into the MLflow model
registry of the current tracking URI. Aliases there:

- ``champion``: the version in production (moves on promotion and rollback, so exactly one version holds it);
- ``challenger``: the newest registered candidate (set at registration); removed when that version becomes the
  champion, so after a failed gate it marks the version that was registered but not promoted.

Everything here is a plain function of its arguments (the gate, the rollback target) or talks only to MLflow.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "CHALLENGER",
    "CHAMPION",
    "GateDecision",
    "gate_decision",
    "mirror_to_mlflow",
    "model_card",
    "previous_production",
    "set_champion",
]

CHAMPION = "champion"
CHALLENGER = "challenger"


# ---------------------------------------------------------------------------------------------- the gate
@dataclass(frozen=True)
class GateDecision:
    """The gate's verdict.

    Attributes:
        passed: every check held.
        reasons: one readable sentence per failed check (empty when passed).
        checks: every check that ran, ``{"name": ..., "passed": bool, "detail": ...}``, in order.
    """

    passed: bool
    reasons: list[str] = field(default_factory=list)
    checks: list[dict[str, Any]] = field(default_factory=list)

    def as_metadata(self) -> dict[str, Any]:
        """Flat metadata for the model version and the gate step (``gate_passed``, ``gate_reasons``, ...)."""
        return {
            "gate_passed": self.passed,
            "gate_reasons": "; ".join(self.reasons) or "all checks passed",
            "gate_checks": {c["name"]: c["detail"] for c in self.checks},
        }

    def as_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "reasons": list(self.reasons), "checks": list(self.checks)}


def _bad(value: float) -> bool:
    return not isinstance(value, int | float) or math.isnan(value)


def gate_decision(
    metrics: Mapping[str, float],
    minimums: Mapping[str, float],
    production: Mapping[str, float] | None = None,
    tolerance: float = 0.02,
    maximums: Mapping[str, float] | None = None,
) -> GateDecision:
    """Decide whether a candidate may be promoted.

    The candidate passes when (1) every ``metrics[k] >= minimums[k]`` and every ``metrics[k] <= maximums[k]``
    (e.g. ``parse_failure_rate``), and (2) when a production version exists, no gated metric is worse than
    production's by more than ``tolerance`` (absolute): ``metrics[k] >= production[k] - tolerance`` for
    minimums, ``metrics[k] <= production[k] + tolerance`` for maximums. A metric missing from the evaluation or
    NaN fails its check; a metric production never recorded is not compared (the check says so).

    Args:
        metrics: the candidate's evaluation metrics.
        minimums: metric -> lowest acceptable value (higher is better).
        production: the production version's metrics, or ``None`` when there is no production version.
        tolerance: the largest acceptable regression against production, >= 0.
        maximums: metric -> highest acceptable value (lower is better).

    Returns:
        :class:`GateDecision` with a reason for every failed check.
    """
    if tolerance < 0 or math.isnan(tolerance):
        raise ValueError(f"gate tolerance must be >= 0, got {tolerance}")
    maximums = dict(maximums or {})
    overlap = sorted(set(minimums) & set(maximums))
    if overlap:
        raise ValueError(f"gate: {overlap} appear as both a minimum and a maximum")
    if not minimums and not maximums:
        raise ValueError("gate: configure at least one threshold (minimums or maximums)")
    checks: list[dict[str, Any]] = []
    reasons: list[str] = []

    def record(name: str, ok: bool, detail: str) -> None:
        checks.append({"name": name, "passed": ok, "detail": detail})
        if not ok:
            reasons.append(detail)

    bounds = [(k, v, ">=") for k, v in minimums.items()] + [(k, v, "<=") for k, v in maximums.items()]
    for key, bound, op in bounds:
        value = metrics.get(key)
        if value is None or _bad(value):
            record(
                f"threshold:{key}",
                False,
                f"{key} is {'missing from' if value is None else 'NaN in'} the evaluation",
            )
            continue
        ok = value >= bound if op == ">=" else value <= bound
        word = "below the minimum" if op == ">=" else "above the maximum"
        detail = f"{key}={value:.4f} {op} {bound:.4f}" if ok else f"{key}={value:.4f} is {word} {bound:.4f}"
        record(f"threshold:{key}", ok, detail)
    if production is None:
        checks.append({"name": "regression", "passed": True, "detail": "no production version: not compared"})
    else:
        for key, _, op in bounds:
            value, prod = metrics.get(key), production.get(key)
            if value is None or _bad(value):
                continue  # already failed above
            if prod is None or _bad(prod):
                checks.append(
                    {
                        "name": f"regression:{key}",
                        "passed": True,
                        "detail": f"production has no {key}: not compared",
                    }
                )
                continue
            ok = value >= prod - tolerance if op == ">=" else value <= prod + tolerance
            detail = (
                f"{key}={value:.4f} vs production {prod:.4f} (tolerance {tolerance:.4f})"
                if ok
                else f"{key}={value:.4f} regresses against production ({prod:.4f}) by more than {tolerance:.4f}"
            )
            record(f"regression:{key}", ok, detail)
    return GateDecision(not reasons, reasons, checks)


# ---------------------------------------------------------------------------------------------- rollback
def previous_production(promotions: Mapping[int, float], current: int) -> int | None:
    """The version that was production before ``current``: among versions ever promoted (version -> time of its
    latest promotion), the most recently promoted one other than ``current``; ``None`` if there is none."""
    earlier = {v: t for v, t in promotions.items() if v != current}
    return max(earlier, key=lambda v: (earlier[v], v)) if earlier else None


# ---------------------------------------------------------------------------------------------- MLflow mirror
def _client() -> Any:
    import mlflow

    return mlflow.MlflowClient()


def mirror_to_mlflow(
    checkpoint: Path, model_name: str, metrics: Mapping[str, float], tags: Mapping[str, str]
) -> str:
    """Register ``checkpoint`` as a new version of ``model_name`` in the MLflow registry of the current tracking
    URI (its files logged to a run of the ``<model_name>-registry`` experiment, the metrics on that run, the
    tags on the run and the version) and give it the ``challenger`` alias. Returns the MLflow version number.
    :func:`set_champion` makes it the champion when it is promoted."""
    import mlflow
    from mlflow.entities import Metric

    client = _client()
    experiment = mlflow.set_experiment(f"{model_name}-registry")
    run = client.create_run(experiment.experiment_id, run_name=f"register-{model_name}", tags=dict(tags))
    finite = [Metric(k, float(v), 0, 0) for k, v in metrics.items() if not _bad(v)]
    client.log_batch(run.info.run_id, metrics=finite)
    client.log_artifacts(run.info.run_id, str(checkpoint), artifact_path="policy")
    client.set_terminated(run.info.run_id)
    try:
        client.get_registered_model(model_name)
    except mlflow.exceptions.MlflowException:
        client.create_registered_model(model_name, description="gotr1 reason-then-generate policy")
    version = client.create_model_version(
        model_name, source=f"{run.info.artifact_uri}/policy", run_id=run.info.run_id, tags=dict(tags)
    )
    client.set_registered_model_alias(model_name, CHALLENGER, version.version)
    return str(version.version)


def set_champion(model_name: str, version: str) -> str | None:
    """Point ``champion`` at MLflow ``version`` (promotion or rollback; the alias moves, so exactly one version
    holds it) and remove ``challenger`` if it pointed at ``version``. Returns the previous champion, if any."""
    client = _client()
    aliases = {k: str(v) for k, v in client.get_registered_model(model_name).aliases.items()}
    client.set_registered_model_alias(model_name, CHAMPION, version)
    if aliases.get(CHALLENGER) == str(version):
        client.delete_registered_model_alias(model_name, CHALLENGER)
    return aliases.get(CHAMPION)


# ---------------------------------------------------------------------------------------------- model card
def _table(rows: Mapping[str, Any]) -> str:
    def fmt(v: Any) -> str:
        return f"{v:.4f}" if isinstance(v, float) else str(v)

    return "| key | value |\n|---|---|\n" + "\n".join(f"| {k} | {fmt(v)} |" for k, v in rows.items())


def model_card(
    name: str,
    version: str,
    metrics: Mapping[str, float],
    gate: GateDecision,
    lineage: Mapping[str, Any],
    config_yaml: str,
) -> str:
    """A markdown model card: what the model is, its held-out metrics, the gate's checks, lineage (data, code,
    MLflow version), the training config and its limits."""
    headline = {k: v for k, v in sorted(metrics.items()) if "/" not in k or k.startswith("reward/")}
    geneval = {k: v for k, v in sorted(metrics.items()) if k.startswith("geneval/")}
    checks = "\n".join(f"- {'PASS' if c['passed'] else 'FAIL'} {c['detail']}" for c in gate.checks)
    verdict = "PASSED: promoted to production" if gate.passed else "FAILED: registered, not promoted"
    return f"""# {name} version {version}

A reason-then-generate text-to-image policy trained by gotr1: SFT on GoT chains, then GRPO with GoT-R1's
dual-stage rewards. It writes a plan (prose and objects with bounding boxes) before it generates the image.

## Evaluation gate: {verdict}
{checks}

## Held-out metrics
{_table(headline)}

## GenEval-format accuracy (plans and images)
{_table(geneval) if geneval else "(no prompt with a scene spec)"}

## Lineage
{_table(lineage)}

## Training config
```yaml
{config_yaml.rstrip()}
```

## Limits
With the embedded default the policy is a tiny model trained from scratch on the synthetic world: it knows the
world's vocabulary (classes, colours, relations) and draws layout grids, not photographs. Its metrics measure
the training system, not open-domain image quality.
"""
