"""Evaluate a checkpoint on the held-out prompts: GoT-R1's rewards and GenEval-format accuracy of plans and
images, with a report (metrics, GenEval per tag, samples with the planned boxes drawn over each image)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
from zenml import log_metadata, step
from zenml.config import CachePolicy
from zenml.types import HTMLString

from gotr1.backends import JudgeSpec, build_judge, load_trained_policy
from gotr1.embedded import prompt_items
from gotr1.evaluation.report import render_evaluation_html
from gotr1.evaluation.rollouts import EvalItem
from gotr1.evaluation.suites import PromptSet, evaluate_model
from steps._config import apply_torch_threads, embedded_config, frame_fingerprint

_DEPENDS_ON = [
    "gotr1.evaluation.rollouts",
    "gotr1.evaluation.suites",
    "gotr1.evaluation.geneval",
    "gotr1.judges.verifier",
    "gotr1.backends",
    "gotr1.models.planner",
]


@step(cache_policy=CachePolicy(source_dependencies=_DEPENDS_ON))
def evaluate(
    checkpoint: Path,
    eval_prompts: pd.DataFrame,
    config: dict[str, Any] | None = None,
    samples_per_prompt: int = 2,
    baseline: Path | None = None,
) -> tuple[Annotated[dict[str, float], "evaluation_metrics"], Annotated[HTMLString, "evaluation_report"]]:
    """Scores ``checkpoint`` (and ``baseline``, e.g. the SFT checkpoint, side by side in the report) with the
    configured judge. Prompts outside the policy's vocabulary count as GenEval failures and are listed."""
    apply_torch_threads()
    cfg = embedded_config(config)
    start = time.perf_counter()
    items = tuple(
        EvalItem(it.prompt, it.spec.tag if it.spec else "free-form", it.spec)
        for it in prompt_items(eval_prompts)
    )
    prompts = PromptSet("lines", "eval_prompts artifact", items)
    candidates = (
        {"candidate": checkpoint} if baseline is None else {"candidate": checkpoint, "baseline": baseline}
    )
    models, codecs = [], []
    for name, path in candidates.items():
        policy = load_trained_policy(path)
        judge = build_judge(JudgeSpec.from_dict((config or {}).get("judge")), policy.codec)
        models.append(
            evaluate_model(
                name, str(path), policy, prompts, judge, samples_per_prompt, cfg.seed, cfg.grpo.reward
            )
        )
        codecs.append(policy.codec)
    report = {
        "prompts": "held-out prompts (eval_prompts artifact)",
        "prompts_sha256": frame_fingerprint(eval_prompts),
        "format": prompts.format,
        "prompt_count": len(items),
        "judge": judge.name,
        "samples_per_prompt": samples_per_prompt,
        "seed": cfg.seed,
        "seconds": round(time.perf_counter() - start, 1),
    }
    metrics = models[0].metrics
    log_metadata({"metrics": metrics, **({"baseline_metrics": models[1].metrics} if baseline else {})})
    return metrics, HTMLString(render_evaluation_html(report, models, codecs))
