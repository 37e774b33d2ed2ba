"""Stop the run before training when the data failed validation; the report stays as an artifact."""

from __future__ import annotations

from zenml import step


@step
def check_data(data_valid: bool) -> None:
    if not data_valid:
        raise RuntimeError(
            "training data failed validation; nothing was trained or registered. Open the 'validation_report' "
            "artifact of this run (ZenML dashboard) for every failed expectation and example rows."
        )
