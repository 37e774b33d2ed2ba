"""The checkpoint of the production version of `gotr1` (for evaluation and generation)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from zenml import step
from zenml.client import Client
from zenml.enums import ModelStages


@step(enable_cache=False)
def production_checkpoint(model_name: str = "gotr1") -> Annotated[Path, "production_checkpoint"]:
    try:
        version = Client().get_model_version(model_name, ModelStages.PRODUCTION)
    except KeyError as err:
        raise RuntimeError(
            f"model {model_name!r} has no production version yet; run training_pipeline first"
        ) from err
    return version.get_artifact("grpo_checkpoint").load()
