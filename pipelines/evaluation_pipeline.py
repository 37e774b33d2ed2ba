"""Evaluate a registered version of `gotr1` (the production version by default) on held-out prompts."""

from __future__ import annotations

from typing import Any

from zenml import pipeline

from steps.evaluate import evaluate
from steps.fingerprint_sources import fingerprint_sources
from steps.load_sources import load_sources
from steps.production_checkpoint import production_checkpoint


@pipeline(name="evaluation_pipeline")
def evaluation_pipeline(
    version: str = "production",
    config: dict[str, Any] | None = None,
    eval_prompt_files: list[str] | None = None,
    samples_per_prompt: int = 2,
) -> None:
    fingerprint = fingerprint_sources(None, eval_prompt_files, None)
    _, _, eval_prompts = load_sources(fingerprint, config, None, eval_prompt_files, None)
    evaluate(production_checkpoint(version), eval_prompts, config, samples_per_prompt)
