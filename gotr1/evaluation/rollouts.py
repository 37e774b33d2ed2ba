"""Score a policy on held-out prompts: sample, parse, judge, and aggregate GoT-R1's rewards and GenEval accuracy.

Metrics of :func:`summarise` (means over every sample):

- ``reward/<component>`` and ``reward/total``: the judge's components and the configured combination;
- ``plan_accuracy``: fraction of plans that GenEval counts correct (counts, colours read from the phrases,
  positions, exclusions: :func:`gotr1.evaluation.geneval.check_plan`);
- ``image_accuracy``: fraction of images that GenEval counts correct (:func:`gotr1.evaluation.geneval.check_image`:
  the exact detector in the synthetic world, the judge at full scale);
- ``parse_failure_rate``: fraction of chains that do not parse;
- ``judge_failures/<component>``: how many samples the judge failed to score on that component;
- ``geneval/plan/<tag>``, ``geneval/image/<tag>``: the same accuracies per GenEval tag; ``geneval/*/overall`` as
  GenEval's ``summary_scores.py`` computes it (the unweighted mean of the per-tag accuracies), and
  ``geneval/*/correct_images``, ``geneval/*/correct_prompts`` (a prompt counts when any of its samples does).

Plan and image accuracies read only samples that have a scene spec; rewards read every sample.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from gotr1.evaluation.geneval import (
    DEFAULT_PI_THRESHOLD,
    GenEvalResult,
    check_image,
    check_plan,
    metadata_key,
    summarize,
)
from gotr1.judges.base import COMPONENTS, Judge, JudgeRequest, Verdict
from gotr1.models.base import Policy
from gotr1.reasoning.chain import GoTChain, parse
from gotr1.rewards import RewardConfig, combine
from gotr1.scenes.spec import SceneSpec

__all__ = [
    "HEADLINE_METRICS",
    "EvalItem",
    "EvaluatedSample",
    "Evaluation",
    "evaluate_policy",
    "geneval_results",
    "sample_and_judge",
    "score_samples",
    "summarise",
]

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
class EvalItem:
    """A prompt to evaluate: its group (GenEval tag or T2I-CompBench category) and scene spec when it has one."""

    prompt: str
    group: str
    spec: SceneSpec | None = None


@dataclass(frozen=True)
class EvaluatedSample:
    """One judged rollout.

    Attributes:
        prompt: the prompt.
        tag: the prompt's group (GenEval tag, T2I-CompBench category).
        chain_text: the decoded chain (``<begin_of_image>`` included).
        parsed: whether the chain parsed.
        image: the decoded image (a ``[G, G]`` grid in the synthetic world, a PIL image at full scale).
        verdict: the judge's verdict.
        total: the combined reward (``None`` when a component is missing).
        spec: the prompt's scene spec, if any.
        sample: index among the prompt's samples.
        plan_correct, image_correct: GenEval's verdicts (``None`` without a spec).
        plan_reason, image_reason: why not, when not.
    """

    prompt: str
    tag: str
    chain_text: str
    parsed: bool
    image: Any
    verdict: Verdict
    total: float | None
    spec: SceneSpec | None = None
    sample: int = 0
    plan_correct: bool | None = None
    image_correct: bool | None = None
    plan_reason: str = ""
    image_reason: str = ""

    def to_json(self) -> dict[str, Any]:
        """Everything but the image, for ``report.json``."""
        return {
            "prompt": self.prompt,
            "group": self.tag,
            "sample": self.sample,
            "chain": self.chain_text,
            "parsed": self.parsed,
            "plan_correct": self.plan_correct,
            "plan_reason": self.plan_reason,
            "image_correct": self.image_correct,
            "image_reason": self.image_reason,
            **{k: self.verdict.component(k) for k in COMPONENTS},
            "judge_failures": list(self.verdict.failures),
            "total": self.total,
        }


@dataclass
class Evaluation:
    metrics: dict[str, float]
    samples: list[EvaluatedSample] = field(default_factory=list)


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else math.nan


def geneval_results(samples: Sequence[EvaluatedSample], kind: str) -> list[GenEvalResult]:
    """GenEval result rows of the samples that have a spec; ``kind`` is ``plan`` or ``image``."""
    if kind not in ("plan", "image"):
        raise ValueError(f"kind must be 'plan' or 'image', got {kind!r}")
    rows = []
    for s in samples:
        correct = s.plan_correct if kind == "plan" else s.image_correct
        if s.spec is None or correct is None:
            continue
        reason = s.plan_reason if kind == "plan" else s.image_reason
        rows.append(GenEvalResult(s.spec.tag, s.prompt, metadata_key(s.spec), correct, reason, s.sample))
    return rows


def summarise(samples: Sequence[EvaluatedSample]) -> dict[str, float]:
    """Aggregate metrics over evaluated samples (see the module docstring)."""
    metrics: dict[str, float] = {}
    for name in COMPONENTS:
        metrics[f"reward/{name}"] = _mean(
            [v for s in samples if (v := s.verdict.component(name)) is not None]
        )
    metrics["reward/total"] = _mean([s.total for s in samples if s.total is not None])
    for name in COMPONENTS:
        metrics[f"judge_failures/{name}"] = float(sum(name in s.verdict.failures for s in samples))
    metrics["parse_failure_rate"] = _mean([float(not s.parsed) for s in samples])
    for kind in ("plan", "image"):
        rows = geneval_results(samples, kind)
        metrics[f"{kind}_accuracy"] = _mean([float(r.correct) for r in rows])
        if rows:
            metrics.update(summarize(rows).metrics(f"geneval/{kind}"))
    metrics["samples"] = float(len(samples))
    return metrics


def score_samples(
    items: Sequence[EvalItem],
    chain_texts: Sequence[str],
    images: Sequence[Any],
    judge: Judge,
    codec: Any,
    samples_per_prompt: int = 1,
    reward: RewardConfig | None = None,
    pi_threshold: float = DEFAULT_PI_THRESHOLD,
) -> list[EvaluatedSample]:
    """Judge sampled chains and images and check their GenEval correctness where the item has a spec.

    Args:
        items: the B prompts.
        chain_texts, images: ``N = B * samples_per_prompt`` decoded chains and images, grouped contiguously
            (sample ``i`` belongs to ``items[i // samples_per_prompt]``), as a :class:`Rollout` holds them.
        judge: scores the four rewards.
        codec: the policy's image codec (the synthetic world's grid codec makes image checks exact).
    """
    if len(chain_texts) != len(items) * samples_per_prompt or len(images) != len(chain_texts):
        raise ValueError(
            f"expected {len(items)} x {samples_per_prompt} chains and images, "
            f"got {len(chain_texts)} chains and {len(images)} images"
        )
    parsed = [parse(t) for t in chain_texts]
    chains = [p if isinstance(p, GoTChain) else None for p in parsed]
    item_of = [items[i // samples_per_prompt] for i in range(len(chains))]
    requests = [
        JudgeRequest(it.prompt, c, img, it.spec) for it, c, img in zip(item_of, chains, images, strict=True)
    ]
    verdicts = judge.judge(requests)
    totals = combine(verdicts, reward or RewardConfig()).totals
    out = []
    for i, (it, text, chain, image, verdict, total) in enumerate(
        zip(item_of, chain_texts, chains, images, verdicts, totals, strict=True)
    ):
        plan_ok = image_ok = None
        plan_reason = image_reason = ""
        if it.spec is not None:
            plan_ok, plan_reason = check_plan(it.spec, chain, codec)
            image_ok, image_reason = check_image(it.spec, image, codec, verdict, pi_threshold)
        out.append(
            EvaluatedSample(
                it.prompt,
                it.group,
                text,
                chain is not None,
                image,
                verdict,
                total,
                it.spec,
                i % samples_per_prompt,
                plan_ok,
                image_ok,
                plan_reason,
                image_reason,
            )
        )
    return out


def sample_and_judge(
    policy: Policy,
    items: Sequence[EvalItem],
    judge: Judge,
    samples_per_prompt: int = 1,
    seed: int = 0,
    reward: RewardConfig | None = None,
    batch_prompts: int = 32,
    pi_threshold: float = DEFAULT_PI_THRESHOLD,
) -> list[EvaluatedSample]:
    """Roll out ``samples_per_prompt`` chains + images per item, ``batch_prompts`` prompts per rollout call (the
    batch starting at item ``k`` uses seed ``seed + k``) and :func:`score_samples` them. Returns samples grouped
    by prompt, in item order."""
    if samples_per_prompt < 1 or batch_prompts < 1:
        raise ValueError("samples_per_prompt and batch_prompts must be >= 1")
    out: list[EvaluatedSample] = []
    for start in range(0, len(items), batch_prompts):
        chunk = items[start : start + batch_prompts]
        rollout = policy.rollout([it.prompt for it in chunk], samples_per_prompt, seed=seed + start)
        out += score_samples(
            chunk,
            rollout.chain_texts,
            rollout.images,
            judge,
            policy.codec,
            samples_per_prompt,
            reward,
            pi_threshold,
        )
    return out


def evaluate_policy(
    policy: Policy,
    specs: Sequence[SceneSpec],
    judge: Judge,
    samples_per_prompt: int = 1,
    seed: int = 0,
    reward: RewardConfig | None = None,
    batch_prompts: int = 32,
) -> Evaluation:
    """Sample ``samples_per_prompt`` rollouts per spec'd prompt, judge them and aggregate (:func:`summarise`)."""
    items = [EvalItem(s.prompt, s.tag, s) for s in specs]
    samples = sample_and_judge(policy, items, judge, samples_per_prompt, seed, reward, batch_prompts)
    return Evaluation(summarise(samples), samples)
