"""SFT warm-up of a fresh tiny Janus on the curated GoT records (chain tokens and image tokens)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import pandas as pd
from zenml import log_metadata, step
from zenml.config import CachePolicy
from zenml.types import HTMLString

from gotr1.backends import PolicySpec
from steps._config import curves_html, embedded_config, frame_fingerprint, use_stack_mlflow, work_dir
from steps._launch import LaunchSettings, run_training_job

_DEPENDS_ON = [
    "gotr1.training.sft",
    "gotr1.training.common",
    "gotr1.training.config",
    "gotr1.models.janus",
    "gotr1.models.janus_pro",
    "gotr1.models.planner",
    "gotr1.backends",
    "gotr1.embedded",
    "steps._launch",
]


@step(cache_policy=CachePolicy(source_dependencies=_DEPENDS_ON))
def train_sft(
    train_records: pd.DataFrame, config: dict[str, Any] | None = None, launch: dict[str, Any] | None = None
) -> tuple[Annotated[Path, "sft_checkpoint"], Annotated[HTMLString, "sft_curves"]]:
    """``config.sft`` steps of SFT of ``config.policy`` (default: a fresh tiny Janus); ``launch`` runs it under
    accelerate (see :mod:`steps._launch`). A rerun with the same records and config resumes from the work
    folder's last checkpoint."""
    cfg = embedded_config(config)
    tracking = use_stack_mlflow()
    policy = PolicySpec.from_dict((config or {}).get("policy"))
    folder = work_dir(
        "sft", cfg.sft, cfg.model, cfg.world.to_dict(), policy, frame_fingerprint(train_records)
    )
    result = run_training_job("sft", config, train_records, folder, LaunchSettings.from_dict(launch))
    log_metadata(
        {
            "sft_steps": result.steps,
            "sft_skipped_steps": result.skipped_steps,
            "work_dir": str(folder),
            "mlflow_tracking_uri": tracking or "not configured",
            **result.final_metrics,
        }
    )
    keys = ("sft/loss", "sft/chain_loss", "sft/image_loss")
    return result.policy_dir, HTMLString(curves_html(folder / "metrics.jsonl", keys, "SFT loss"))
