"""The whole loop: data -> SFT -> GRPO -> evaluate -> gate -> register (ZenML model `gotr1`)."""

from __future__ import annotations

from typing import Any

from zenml import Model, pipeline

from pipelines._data import data_stage
from steps.evaluate import evaluate
from steps.gate import gate
from steps.register import register
from steps.train_grpo import train_grpo
from steps.train_sft import train_sft

DEFAULT_THRESHOLDS = {"reward/total": 0.0, "image_accuracy": 0.0}


@pipeline(
    name="training_pipeline",
    model=Model(name="gotr1", description="GoT-R1-style reason-then-generate policy"),
)
def training_pipeline(
    config: dict[str, Any] | None = None,
    got_records: list[str] | None = None,
    eval_prompt_files: list[str] | None = None,
    rl_prompt_files: list[str] | None = None,
    thresholds: dict[str, float] | None = None,
    tolerance: float = 0.02,
    samples_per_prompt: int = 2,
) -> None:
    records, rl_prompts, eval_prompts = data_stage(config, got_records, eval_prompt_files, rl_prompt_files)
    sft = train_sft(records, config, after="check_data")
    policy, _ = train_grpo(sft, rl_prompts, config)
    metrics, _ = evaluate(policy, eval_prompts, config, samples_per_prompt, baseline=sft)
    decision = gate(metrics, thresholds or DEFAULT_THRESHOLDS, tolerance)
    register(policy, metrics, decision, config)
