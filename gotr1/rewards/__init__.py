"""GoT-R1's dual-stage reward: components from judge verdicts, combined into one scalar per rollout.

Combinations (GOT-R1-FACTS.md section 3), a config choice:

- ``product_v1`` (README, May 2025; default): ``R = R_PI * (R_sem + R_spa) * R_RI``, in [0, 2];
- ``product_v2`` (paper v2, Eq. 3): ``R = R_PI * (R_sem + R_spa) / 2 * R_RI * R_HPS``, needs an HPS scorer;
- ``sum`` (the paper's ablation): ``R = sum_k w_k * R_k`` over the configured weights.

``None`` marks a component that is not applicable or that the judge failed to produce; a rollout whose total
needs such a component gets ``total = None``: it is excluded from the advantages and counted, never scored 0.0.
Past ``max_judge_failure_rate`` the batch raises :class:`JudgeFailureRateExceeded`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from gotr1.judges.base import COMPONENTS, Verdict

__all__ = [
    "COMBINATIONS",
    "HPSScorer",
    "JudgeFailureRateExceeded",
    "RewardBreakdown",
    "RewardConfig",
    "combine",
    "total_reward",
]

COMBINATIONS: tuple[str, ...] = ("product_v1", "product_v2", "sum")


class HPSScorer(Protocol):
    """A human-preference scorer (HPS v2.1 at full scale): prompts and images -> scores in [0, 1]."""

    def __call__(self, prompts: Sequence[str], images: Sequence[object]) -> list[float | None]: ...


class JudgeFailureRateExceeded(RuntimeError):
    """Too many judge replies could not be used; the run stops rather than train on holes."""


@dataclass(frozen=True)
class RewardConfig:
    """How components combine into the total reward.

    Attributes:
        kind: ``product_v1`` (default), ``product_v2`` or ``sum``.
        weights: per-component weights for ``sum`` (keys among r_sem, r_spa, r_ri, r_pi, r_hps).
        max_judge_failure_rate: the largest fraction of rollouts in a batch whose total may be missing because a
            judge call failed, before the run stops.
    """

    kind: str = "product_v1"
    weights: dict[str, float] = field(
        default_factory=lambda: {"r_sem": 1.0, "r_spa": 1.0, "r_ri": 1.0, "r_pi": 1.0}
    )
    max_judge_failure_rate: float = 0.2

    def __post_init__(self) -> None:
        if self.kind not in COMBINATIONS:
            raise ValueError(f"RewardConfig.kind must be one of {COMBINATIONS}, got {self.kind!r}")
        unknown = sorted(set(self.weights) - {*COMPONENTS, "r_hps"})
        if unknown:
            raise ValueError(f"RewardConfig.weights has unknown components {unknown}")
        if self.kind == "sum" and not any(w != 0 for w in self.weights.values()):
            raise ValueError("RewardConfig.weights must have a non-zero weight for kind='sum'")
        if not 0.0 <= self.max_judge_failure_rate <= 1.0:
            raise ValueError(
                f"RewardConfig.max_judge_failure_rate must be in [0, 1], got {self.max_judge_failure_rate}"
            )

    @property
    def needs_hps(self) -> bool:
        return self.kind == "product_v2" or (self.kind == "sum" and self.weights.get("r_hps", 0.0) != 0.0)

    @property
    def components(self) -> tuple[str, ...]:
        """The components the total reads."""
        if self.kind == "product_v1":
            return COMPONENTS
        if self.kind == "product_v2":
            return (*COMPONENTS, "r_hps")
        return tuple(k for k, w in self.weights.items() if w != 0.0)


def total_reward(parts: dict[str, float | None], config: RewardConfig) -> float | None:
    """The total for one rollout's components, or ``None`` if a component it needs is missing."""
    needed = config.components
    if any(parts.get(k) is None for k in needed):
        return None
    v = {k: float(parts[k] or 0.0) for k in needed}
    if config.kind == "product_v1":
        return v["r_pi"] * (v["r_sem"] + v["r_spa"]) * v["r_ri"]
    if config.kind == "product_v2":
        return v["r_pi"] * (v["r_sem"] + v["r_spa"]) / 2 * v["r_ri"] * v["r_hps"]
    return sum(config.weights[k] * v[k] for k in needed)


@dataclass(frozen=True)
class RewardBreakdown:
    """Per-rollout components and totals, with failure counts.

    Attributes:
        components: component name -> one value per rollout (``None`` = not applicable / failed).
        totals: one total per rollout (``None`` = excluded from advantages).
        judge_failures: component name -> number of rollouts whose judge call for it failed.
    """

    components: dict[str, list[float | None]]
    totals: list[float | None]
    judge_failures: dict[str, int]

    @property
    def excluded(self) -> int:
        return sum(t is None for t in self.totals)

    def means(self) -> dict[str, float]:
        """Mean of every component and of the total over the rollouts that have it (NaN if none)."""
        out = {}
        for name, values in {**self.components, "total": self.totals}.items():
            present = [v for v in values if v is not None]
            out[name] = sum(present) / len(present) if present else math.nan
        return out

    def metrics(self, prefix: str = "reward/") -> dict[str, float]:
        """Flat metrics for logging: means, total std, failure counts and the excluded fraction."""
        present = [t for t in self.totals if t is not None]
        mean = sum(present) / len(present) if present else math.nan
        std = math.sqrt(sum((t - mean) ** 2 for t in present) / len(present)) if present else math.nan
        out = {f"{prefix}{k}": v for k, v in self.means().items()}
        out[f"{prefix}total_std"] = std
        out[f"{prefix}excluded_fraction"] = self.excluded / len(self.totals) if self.totals else 0.0
        out.update({f"{prefix}judge_failures/{k}": float(v) for k, v in self.judge_failures.items()})
        return out


def combine(
    verdicts: Sequence[Verdict], config: RewardConfig, hps: Sequence[float | None] | None = None
) -> RewardBreakdown:
    """Combine judge verdicts (and optional HPS scores) into a :class:`RewardBreakdown`.

    Raises:
        ValueError: if the combination needs HPS scores and none (or the wrong number) are given.
        JudgeFailureRateExceeded: if more than ``config.max_judge_failure_rate`` of the rollouts lack a total
            because of judge failures.
    """
    if config.needs_hps and (hps is None or len(hps) != len(verdicts)):
        raise ValueError(f"reward kind {config.kind!r} needs one HPS score per rollout")
    components: dict[str, list[float | None]] = {k: [v.component(k) for v in verdicts] for k in COMPONENTS}
    if hps is not None:
        components["r_hps"] = list(hps)
    failures = {k: sum(k in v.failures for v in verdicts) for k in COMPONENTS}
    totals = [
        total_reward({k: vals[i] for k, vals in components.items()}, config) for i in range(len(verdicts))
    ]
    failed = sum(
        t is None and any(k in v.failures for k in config.components)
        for t, v in zip(totals, verdicts, strict=True)
    )
    if verdicts and failed / len(verdicts) > config.max_judge_failure_rate:
        raise JudgeFailureRateExceeded(
            f"{failed} of {len(verdicts)} rollouts have no reward because the judge failed "
            f"(per component: {failures}); the limit is {config.max_judge_failure_rate:.0%}"
        )
    return RewardBreakdown(components, totals, failures)
