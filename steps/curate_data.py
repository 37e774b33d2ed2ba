"""Deduplicate the validated records and remove training data that leaks evaluation prompts."""

from __future__ import annotations

from typing import Annotated

import pandas as pd
from zenml import log_metadata, step
from zenml.config import CachePolicy

from gotr1.data.curation import dataset_statistics, deduplicate, remove_leakage

_DEPENDS_ON = ["gotr1.data.curation"]


@step(cache_policy=CachePolicy(source_dependencies=_DEPENDS_ON))
def curate_data(
    validated_records: pd.DataFrame, rl_prompts: pd.DataFrame, eval_prompts: pd.DataFrame
) -> tuple[Annotated[pd.DataFrame, "train_records"], Annotated[pd.DataFrame, "train_rl_prompts"]]:
    """Records whose (prompt, chain) repeats are dropped; SFT records and RL prompts matching an evaluation
    prompt after normalisation are removed and counted. The curated dataset carries its statistics."""
    records, duplicates = deduplicate(validated_records)
    records, leaked = remove_leakage(records, eval_prompts["prompt"])
    prompts, prompts_leaked = remove_leakage(rl_prompts, eval_prompts["prompt"])
    # No records at all is fine (a pretrained policy without GoT records goes straight to GRPO); records that
    # curation removed to the last one, or no RL prompts, leave nothing to train on.
    if (records.empty and len(validated_records)) or prompts.empty:
        raise ValueError(
            f"nothing left to train on after curation: {len(records)} records, {len(prompts)} RL prompts "
            f"({duplicates} duplicates and {leaked} leaked records, {prompts_leaked} leaked prompts removed)"
        )
    stats = {
        **dataset_statistics(records),
        "duplicates_removed": duplicates,
        "leakage_removed": leaked,
        "rl_prompts": len(prompts),
        "rl_prompts_leakage_removed": prompts_leaked,
    }
    log_metadata(stats)
    log_metadata(metadata=stats, artifact_name="train_records", infer_artifact=True)
    return records, prompts
