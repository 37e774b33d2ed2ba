"""Score a policy on held-out prompts: sample, parse, judge, and aggregate GoT-R1's rewards and GenEval accuracy.

Metrics (means over every sample):

- ``reward/<component>`` and ``reward/total``: the judge's components and the configured combination;
- ``plan_accuracy``: fraction of plans whose boxes pass every GenEval check (``r_spa == 1``);
- ``image_accuracy``: fraction of images that GenEval counts correct (the verifier's ``detail["correct"]``);
- ``parse_failure_rate``: fraction of chains that do not parse;
- ``geneval/plan/<tag>``, ``geneval/image/<tag>``: the same accuracies per GenEval tag, and ``geneval/*/overall``
  as GenEval's ``summary_scores.py`` computes it (the mean of the per-tag accuracies).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from gotr1.judges.base import Judge, JudgeRequest, Verdict
from gotr1.models.base import Policy
from gotr1.reasoning.chain import GoTChain, parse
from gotr1.rewards import RewardConfig, combine
from gotr1.scenes.spec import SceneSpec

__all__ = ["HEADLINE_METRICS", "EvaluatedSample", "Evaluation", "evaluate_policy", "summarise"]

# What people look at first: the total reward, its components, plan and image accuracy.
HEADLINE_METRICS: tuple[str, ...] = (
    "reward/total",
    "reward/r_sem",
    "reward/r_spa",
    "reward/r_ri",
    "reward/r_pi",
    "plan_accuracy",
    "image_accuracy",
)


@dataclass(frozen=True)
class EvaluatedSample:
    prompt: str
    tag: str
    chain_text: str
    parsed: bool
    image: Any
    verdict: Verdict
    total: float | None


@dataclass
class Evaluation:
    metrics: dict[str, float]
    samples: list[EvaluatedSample] = field(default_factory=list)


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def summarise(samples: Sequence[EvaluatedSample]) -> dict[str, float]:
    """Aggregate metrics over evaluated samples (see the module docstring)."""
    metrics: dict[str, float] = {}
    for name in ("r_sem", "r_spa", "r_ri", "r_pi"):
        metrics[f"reward/{name}"] = _mean(
            [v for s in samples if (v := s.verdict.component(name)) is not None]
        )
    metrics["reward/total"] = _mean([s.total for s in samples if s.total is not None])
    plan_ok = [s.verdict.r_spa == 1.0 for s in samples]
    image_ok = [bool(s.verdict.detail.get("correct", False)) for s in samples]
    metrics["plan_accuracy"] = _mean([float(x) for x in plan_ok])
    metrics["image_accuracy"] = _mean([float(x) for x in image_ok])
    metrics["parse_failure_rate"] = _mean([float(not s.parsed) for s in samples])
    by_tag: dict[str, list[int]] = defaultdict(list)
    for i, s in enumerate(samples):
        by_tag[s.tag].append(i)
    for kind, ok in (("plan", plan_ok), ("image", image_ok)):
        per_tag = {tag: _mean([float(ok[i]) for i in idx]) for tag, idx in sorted(by_tag.items())}
        metrics.update({f"geneval/{kind}/{tag}": acc for tag, acc in per_tag.items()})
        metrics[f"geneval/{kind}/overall"] = _mean(list(per_tag.values()))
    metrics["samples"] = float(len(samples))
    return metrics


def evaluate_policy(
    policy: Policy,
    specs: Sequence[SceneSpec],
    judge: Judge,
    samples_per_prompt: int = 1,
    seed: int = 0,
    reward: RewardConfig | None = None,
    batch_prompts: int = 32,
) -> Evaluation:
    """Sample ``samples_per_prompt`` rollouts per spec'd prompt, judge them and aggregate."""
    reward = reward or RewardConfig()
    out: list[EvaluatedSample] = []
    for start in range(0, len(specs), batch_prompts):
        chunk = specs[start : start + batch_prompts]
        rollout = policy.rollout([s.prompt for s in chunk], samples_per_prompt, seed=seed + start)
        parsed = [parse(t) for t in rollout.chain_texts]
        chains = [p if isinstance(p, GoTChain) else None for p in parsed]
        spec_of = [chunk[i // samples_per_prompt] for i in range(len(chains))]
        requests = [
            JudgeRequest(sp.prompt, c, img, sp)
            for sp, c, img in zip(spec_of, chains, rollout.images, strict=True)
        ]
        verdicts = judge.judge(requests)
        totals = combine(verdicts, reward).totals
        for sp, text, c, img, v, t in zip(
            spec_of, rollout.chain_texts, chains, rollout.images, verdicts, totals, strict=True
        ):
            out.append(EvaluatedSample(sp.prompt, sp.tag, text, c is not None, img, v, t))
    return Evaluation(summarise(out), out)
