"""SFT warm-up of a fresh tiny Janus on the curated records."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import pandas as pd
from zenml import log_metadata, step

from gotr1.embedded import new_tiny_policy, sft_examples_from_frame
from gotr1.training.sft import run_sft
from steps._config import embedded_config, metrics_logger, work_dir


@step
def train_sft(
    train_records: pd.DataFrame, config: dict[str, Any] | None = None
) -> Annotated[Path, "sft_checkpoint"]:
    cfg = embedded_config(config)
    examples = sft_examples_from_frame(train_records)
    policy = new_tiny_policy(cfg, [t for e in examples for t in (e.prompt, e.chain)])
    folder = work_dir(
        "sft", cfg.sft, cfg.model, cfg.world.to_dict(), len(train_records), train_records["id"].iloc[-1]
    )
    result = run_sft(cfg.sft, policy, examples, folder, metrics_logger("sft", folder))
    log_metadata(
        {"sft_steps": result.steps, "sft_skipped_steps": result.skipped_steps, **result.final_metrics}
    )
    return result.policy_dir
