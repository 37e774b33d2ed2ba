"""Data curation, SFT warm-up (reused from the cache when unchanged), then GRPO with the dual-stage rewards.

At full scale (``config.policy.kind: janus_pro``) GRPO starts from the configured checkpoint and SFT is skipped.
"""

from __future__ import annotations

from typing import Any

from zenml import pipeline

from pipelines._data import data_stage, is_full_scale
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
    sft = None if is_full_scale(config) else train_sft(records, config)[0]
    train_grpo(sft, rl_prompts, config)
