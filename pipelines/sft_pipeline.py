"""Data curation, then the SFT warm-up: the tiny policy from scratch, or ``config.policy`` (Janus-Pro on GoT records
whose images are VQ-encoded from their files, a planner on chains)."""

from __future__ import annotations

from typing import Any

from zenml import pipeline

from pipelines._data import data_stage
from steps.train_sft import train_sft


@pipeline(name="sft_pipeline")
def sft_pipeline(
    config: dict[str, Any] | None = None,
    got_records: list[str] | None = None,
    eval_prompt_files: list[str] | None = None,
    rl_prompt_files: list[str] | None = None,
) -> None:
    records, _, _ = data_stage(config, got_records, eval_prompt_files, rl_prompt_files)
    train_sft(records, config)
