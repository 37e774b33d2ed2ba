"""The data stage every pipeline starts with (a function called inside pipelines, not a pipeline)."""

from __future__ import annotations

from typing import Any

from steps.check_data import check_data
from steps.curate_data import curate_data
from steps.load_data import load_data


def data_stage(  # type: ignore[no-untyped-def]
    config: dict[str, Any] | None,
    got_records: list[str] | None = None,
    eval_prompt_files: list[str] | None = None,
    rl_prompt_files: list[str] | None = None,
):
    """load -> curate (normalise, dedupe, leakage, validation report) -> stop here if the data is invalid.

    Returns the invocations' outputs: curated records, RL prompts, held-out prompts.
    """
    raw, rl_prompts, eval_prompts, leakage = load_data(
        config, got_records, eval_prompt_files, rl_prompt_files
    )
    records, _, valid = curate_data(raw, leakage, config)
    check_data(valid, id="check_data")
    return records, rl_prompts, eval_prompts
