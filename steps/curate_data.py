"""Normalise, deduplicate, remove evaluation leakage and validate the training records (Great Expectations)."""

from __future__ import annotations

from typing import Annotated, Any

import pandas as pd
from zenml import log_metadata, step
from zenml.types import HTMLString

from gotr1.data.curation import (
    dataset_statistics,
    deduplicate,
    normalise_prompt,
    remove_leakage,
    render_validation_html,
    validate_records,
)
from steps._config import embedded_config


@step
def curate_data(
    raw_records: pd.DataFrame,
    leakage_prompts: list[str],
    config: dict[str, Any] | None = None,
    max_prompt_chars: int = 512,
) -> tuple[
    Annotated[pd.DataFrame, "train_records"],
    Annotated[HTMLString, "validation_report"],
    Annotated[bool, "data_valid"],
]:
    """Returns the curated records, the validation report (HTML, every failed expectation with example rows) and
    whether the suite passed; :func:`steps.check_data.check_data` stops the run when it did not."""
    codec = embedded_config(config).world.codec()
    records = raw_records.assign(
        prompt=raw_records["prompt"].map(lambda p: normalise_prompt(p) if isinstance(p, str) else p)
    )
    records, duplicates = deduplicate(records)
    records, leaked = remove_leakage(records, leakage_prompts)
    report = validate_records(
        records, max_prompt_chars=max_prompt_chars, image_tokens_length=codec.num_tokens
    )
    stats = {**dataset_statistics(records), "duplicates_removed": duplicates, "leakage_removed": leaked}
    log_metadata({**stats, "validation": report.summary()})
    log_metadata(metadata=stats, artifact_name="train_records", infer_artifact=True)
    return records, HTMLString(render_validation_html(report)), report.success
