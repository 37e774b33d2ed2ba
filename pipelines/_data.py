"""The data stage every training pipeline starts with (a function called inside pipelines, not a pipeline)."""

from __future__ import annotations

from typing import Any

from gotr1.backends import PolicySpec
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


def runs_sft(config: dict[str, Any] | None, got_records: list[str] | None) -> bool:
    """Whether a pipeline trains SFT before GRPO: always for a policy trained from scratch (the tiny Janus, a
    tiny planner); for a pretrained one (Janus-Pro, a planner from ``policy.path``) when GoT records are given
    to fine-tune it on. Otherwise GRPO starts from the configured checkpoint (e.g. GoT-R1's release, whose SFT
    was done upstream)."""
    spec = PolicySpec.from_dict((config or {}).get("policy"))
    return spec.trained_from_scratch or bool(got_records)
