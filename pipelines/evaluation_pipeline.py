"""Evaluate the production version of `gotr1` on held-out prompts."""

from __future__ import annotations

from typing import Any

from zenml import pipeline

from pipelines._data import data_stage
from steps.evaluate import evaluate
from steps.production_checkpoint import production_checkpoint


@pipeline(name="evaluation_pipeline")
def evaluation_pipeline(config: dict[str, Any] | None = None, samples_per_prompt: int = 2) -> None:
    _, _, eval_prompts = data_stage(config, None, None)
    evaluate(production_checkpoint(), eval_prompts, config, samples_per_prompt)
