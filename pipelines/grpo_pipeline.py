"""Data curation, SFT warm-up (reused from the cache when unchanged), then GRPO with the dual-stage rewards.

A pretrained policy (``config.policy``: Janus-Pro, a planner with a ``path``) is fine-tuned by SFT only when GoT records
are given (``got_records``); otherwise GRPO starts from its checkpoint (:func:`pipelines._data.runs_sft`).
"""

from __future__ import annotations

from typing import Any

from zenml import pipeline

from pipelines._data import data_stage, runs_sft
from steps.train_grpo import train_grpo
from steps.train_sft import train_sft


@pipeline(name="grpo_pipeline")
def grpo_pipeline(
    config: dict[str, Any] | None = None,
    got_records: list[str] | None = None,
    eval_prompt_files: list[str] | None = None,
    rl_prompt_files: list[str] | None = None,
) -> None:
    records, rl_prompts, _ = data_stage(config, got_records, eval_prompt_files, rl_prompt_files)
    sft = train_sft(records, config)[0] if runs_sft(config, got_records) else None
    train_grpo(sft, rl_prompts, config)
