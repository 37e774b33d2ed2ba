"""The checkpoint of a registered version of `gotr1` (the production version by default)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from zenml import log_metadata, step
from zenml.client import Client
from zenml.enums import ModelStages

from steps._config import MODEL_NAME


@step(enable_cache=False)  # production moves: always look it up
def production_checkpoint(version: str = ModelStages.PRODUCTION.value) -> Annotated[Path, "checkpoint"]:
    """The ``grpo_checkpoint`` artifact of ``version`` (a number, or a stage such as ``production``)."""
    try:
        model_version = Client().get_model_version(MODEL_NAME, version)
    except KeyError as err:
        raise RuntimeError(
            f"model {MODEL_NAME!r} has no version {version!r}; run training_pipeline (and promote a version)"
        ) from err
    log_metadata({"model_version": model_version.name})
    return model_version.get_artifact("grpo_checkpoint").load()
