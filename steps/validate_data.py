"""Normalise the records and validate them with Great Expectations; a failing suite stops the run here."""

from __future__ import annotations

from typing import Annotated, Any

import pandas as pd
from zenml import log_metadata, save_artifact, step
from zenml.config import CachePolicy
from zenml.types import HTMLString

from gotr1.backends import PolicySpec
from gotr1.data.curation import normalise_prompt, render_validation_html, require_valid, validate_records
from steps._config import embedded_config

_DEPENDS_ON = ["gotr1.data.curation", "gotr1.reasoning.chain", "gotr1.backends"]


@step(cache_policy=CachePolicy(source_dependencies=_DEPENDS_ON))
def validate_data(
    raw_records: pd.DataFrame, config: dict[str, Any] | None = None, max_prompt_chars: int = 512
) -> tuple[Annotated[pd.DataFrame, "validated_records"], Annotated[HTMLString, "validation_report"]]:
    """Prompts normalised (unicode, line endings, whitespace); the GoT-record suite run (chain parses,
    coordinates in range and ordered, prompt length, no empty fields, image present, unique ids).

    Raises:
        gotr1.data.curation.DataValidationError: the suite failed; the message lists every failed expectation,
            and the ``validation_report`` artifact (saved before raising) shows example rows of each.
    """
    # Inline image tokens are the world codec's grid in the synthetic world; a full-scale policy's VQ length is
    # only known once its model is loaded (the SFT step checks it there, naming the record).
    in_world = PolicySpec.from_dict((config or {}).get("policy")).in_world
    tokens = embedded_config(config).world.codec().num_tokens if in_world else None
    records = raw_records.assign(prompt=raw_records["prompt"].map(normalise_prompt, na_action="ignore"))
    report = validate_records(records, max_prompt_chars=max_prompt_chars, image_tokens_length=tokens)
    page = HTMLString(render_validation_html(report))
    log_metadata({"validation_passed": report.success, "validation": report.summary()})
    if not report.success:
        save_artifact(
            page, name="validation_report"
        )  # kept (and shown in the dashboard) though the step fails
        require_valid(report)
    return records, page
