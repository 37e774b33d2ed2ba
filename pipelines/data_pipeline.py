"""Data curation: load sources, normalise, validate (Great Expectations), deduplicate, remove leakage."""

from __future__ import annotations

from typing import Any

from zenml import pipeline

from pipelines._data import data_stage


@pipeline(name="data_pipeline")
def data_pipeline(
    config: dict[str, Any] | None = None,
    got_records: list[str] | None = None,
    eval_prompt_files: list[str] | None = None,
    rl_prompt_files: list[str] | None = None,
) -> None:
    data_stage(config, got_records, eval_prompt_files, rl_prompt_files)
