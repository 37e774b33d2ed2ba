"""gotr1's ZenML pipelines, importable as ``pipelines.<name>`` for ``zenml pipeline run``."""

from pipelines.data_pipeline import data_pipeline
from pipelines.evaluation_pipeline import evaluation_pipeline
from pipelines.grpo_pipeline import grpo_pipeline
from pipelines.sft_pipeline import sft_pipeline
from pipelines.training_pipeline import training_pipeline

__all__ = ["data_pipeline", "evaluation_pipeline", "grpo_pipeline", "sft_pipeline", "training_pipeline"]
