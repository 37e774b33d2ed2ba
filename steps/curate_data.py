"""Deduplicate the validated records and remove training data that leaks evaluation prompts."""

from __future__ import annotations

from typing import Annotated

import pandas as pd
from zenml import log_metadata, step
from zenml.config import CachePolicy

from gotr1.data.curation import curate, dataset_statistics

_DEPENDS_ON = ["gotr1.data.curation"]


@step(cache_policy=CachePolicy(source_dependencies=_DEPENDS_ON))
def curate_data(
    validated_records: pd.DataFrame, rl_prompts: pd.DataFrame, eval_prompts: pd.DataFrame
) -> tuple[Annotated[pd.DataFrame, "train_records"], Annotated[pd.DataFrame, "train_rl_prompts"]]:
    """:func:`gotr1.data.curation.curate`: repeated records dropped, SFT records and RL prompts matching an
    evaluation prompt removed and counted. The curated dataset carries its statistics."""
    curated = curate(validated_records, rl_prompts, eval_prompts["prompt"])
    stats = {
        **dataset_statistics(curated.records),
        "duplicates_removed": curated.duplicates_removed,
        "leakage_removed": curated.leakage_removed,
        "rl_prompts": len(curated.rl_prompts),
        "rl_prompts_leakage_removed": curated.rl_prompts_leakage_removed,
    }
    log_metadata(stats)
    log_metadata(metadata=stats, artifact_name="train_records", infer_artifact=True)
    return curated.records, curated.rl_prompts
