"""The whole loop: data -> SFT -> GRPO -> evaluate -> gate -> register (ZenML model `gotr1`, mirrored to MLflow).

A pretrained policy (``config.policy``: Janus-Pro, a planner with a ``path``) is fine-tuned by SFT only when GoT records
are given (``got_records``); otherwise GRPO starts from its checkpoint (:func:`pipelines._data.runs_sft`).
"""

from __future__ import annotations

from typing import Any

from zenml import pipeline

from pipelines._data import data_stage, runs_sft
from steps.evaluate import evaluate
from steps.gate import gate
from steps.register import register
from steps.train_grpo import train_grpo
from steps.train_sft import train_sft

DEFAULT_MINIMUMS = {"reward/total": 0.0}


@pipeline(name="training_pipeline")
def training_pipeline(
    config: dict[str, Any] | None = None,
    got_records: list[str] | None = None,
    eval_prompt_files: list[str] | None = None,
    rl_prompt_files: list[str] | None = None,
    minimums: dict[str, float] | None = None,
    maximums: dict[str, float] | None = None,
    tolerance: float = 0.02,
    samples_per_prompt: int = 2,
) -> None:
    records, rl_prompts, eval_prompts = data_stage(config, got_records, eval_prompt_files, rl_prompt_files)
    sft = train_sft(records, config)[0] if runs_sft(config, got_records) else None
    policy, _ = train_grpo(sft, rl_prompts, config)
    metrics, _ = evaluate(policy, eval_prompts, config, samples_per_prompt, baseline=sft)
    decision = gate(metrics, minimums or DEFAULT_MINIMUMS, maximums, tolerance)
    register(policy, metrics, decision, records, config)
