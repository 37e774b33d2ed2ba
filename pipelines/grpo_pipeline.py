"""Data curation, SFT warm-up (reused from the cache when unchanged), then GRPO with the dual-stage rewards."""

from __future__ import annotations

from typing import Any

from zenml import pipeline

from pipelines._data import data_stage
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
    if (config or {}).get("policy", {}).get("kind", "tiny") == "tiny":
        train_grpo(train_sft(records, config, after="check_data"), rl_prompts, config)
    else:  # full scale: GRPO starts from the configured Janus-Pro / GoT checkpoint (SFT done upstream)
        train_grpo(None, rl_prompts, config, after="check_data")
