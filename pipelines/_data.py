"""The data stage every training pipeline starts with (a function called inside pipelines, not a pipeline)."""

from __future__ import annotations

from typing import Any

from steps.curate_data import curate_data
from steps.fingerprint_sources import fingerprint_sources
from steps.load_sources import load_sources
from steps.validate_data import validate_data


def data_stage(  # type: ignore[no-untyped-def]
    config: dict[str, Any] | None,
    got_records: list[str] | None = None,
    eval_prompt_files: list[str] | None = None,
    rl_prompt_files: list[str] | None = None,
):
    """fingerprint sources -> load -> normalise + validate (stops the run on a failed suite) -> dedupe and
    remove leakage. Returns the step outputs: curated records, curated RL prompts, evaluation prompts."""
    fingerprint = fingerprint_sources(got_records, eval_prompt_files, rl_prompt_files)
    raw, rl_prompts, eval_prompts = load_sources(
        fingerprint, config, got_records, eval_prompt_files, rl_prompt_files
    )
    validated, _ = validate_data(raw, config)
    records, train_rl_prompts = curate_data(validated, rl_prompts, eval_prompts)
    return records, train_rl_prompts, eval_prompts


def is_full_scale(config: dict[str, Any] | None) -> bool:
    """Full scale (a pretrained Janus-Pro from ``config.policy``) skips the tiny SFT warm-up: GRPO starts from
    the configured checkpoint, which has had its SFT upstream (GoT-R1's release)."""
    return (config or {}).get("policy", {}).get("kind", "tiny") != "tiny"
