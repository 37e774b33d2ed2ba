"""Evaluate a checkpoint on the held-out prompts: GoT-R1 rewards and GenEval accuracy of plans and images."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
from zenml import log_metadata, step
from zenml.types import HTMLString

from gotr1.embedded import prompt_items
from gotr1.evaluation.report import render_report
from gotr1.evaluation.rollouts import evaluate_policy
from gotr1.judges.verifier import VerifierJudge
from gotr1.models.janus import JanusPolicy
from steps._config import embedded_config


@step
def evaluate(
    checkpoint: Path,
    eval_prompts: pd.DataFrame,
    config: dict[str, Any] | None = None,
    samples_per_prompt: int = 2,
    baseline: Path | None = None,
) -> tuple[Annotated[dict[str, float], "evaluation_metrics"], Annotated[HTMLString, "evaluation_report"]]:
    """Scores ``checkpoint`` (and ``baseline``, e.g. the SFT checkpoint, side by side in the report)."""
    cfg = embedded_config(config)
    judge = VerifierJudge(cfg.world.codec())
    specs = [it.spec for it in prompt_items(eval_prompts) if it.spec is not None]
    policy = JanusPolicy.from_pretrained(checkpoint)
    result = evaluate_policy(policy, specs, judge, samples_per_prompt, seed=cfg.seed, reward=cfg.grpo.reward)
    columns = {"candidate": result.metrics}
    if baseline is not None:
        base = evaluate_policy(
            JanusPolicy.from_pretrained(baseline), specs, judge, samples_per_prompt, seed=cfg.seed
        )
        columns["baseline"] = base.metrics
        log_metadata({f"baseline/{k}": v for k, v in base.metrics.items()})
    log_metadata({"evaluation": json.dumps(result.metrics), **result.metrics})
    html = render_report("gotr1 evaluation", columns, result.samples, policy.codec)
    return result.metrics, HTMLString(html)
