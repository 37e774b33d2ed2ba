"""GRPO with GoT-R1's dual-stage rewards, from the SFT checkpoint or the configured full-scale policy."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import pandas as pd
from zenml import log_metadata, step
from zenml.config import CachePolicy
from zenml.types import HTMLString

from gotr1.backends import PolicySpec
from steps._config import (
    curves_html,
    embedded_config,
    fingerprint,
    frame_fingerprint,
    use_stack_mlflow,
    work_dir,
)
from steps._launch import LaunchSettings, run_training_job

_DEPENDS_ON = [
    "gotr1.training.grpo",
    "gotr1.training.grpo_math",
    "gotr1.training.common",
    "gotr1.training.config",
    "gotr1.rewards",
    "gotr1.judges.verifier",
    "gotr1.models.janus",
    "gotr1.backends",
    "steps._launch",
]
CURVES = ("reward/total", "reward/r_sem", "reward/r_spa", "reward/r_ri", "reward/r_pi", "grpo/kl")


@step(cache_policy=CachePolicy(source_dependencies=_DEPENDS_ON))
def train_grpo(
    sft_checkpoint: Path | None,
    train_rl_prompts: pd.DataFrame,
    config: dict[str, Any] | None = None,
    launch: dict[str, Any] | None = None,
) -> tuple[Annotated[Path, "grpo_checkpoint"], Annotated[HTMLString, "reward_curves"]]:
    """GRPO from ``sft_checkpoint`` (embedded default) or from ``config.policy`` (Janus-Pro at full scale, when
    ``sft_checkpoint`` is None), judged by ``config.judge`` (the verifier, or an MLLM served over HTTP);
    ``launch`` runs it under accelerate + DeepSpeed. The reward curves are an HTML artifact."""
    cfg = embedded_config(config)
    tracking = use_stack_mlflow()
    start = (
        fingerprint(sft_checkpoint)
        if sft_checkpoint
        else str(PolicySpec.from_dict((config or {}).get("policy")))
    )
    folder = work_dir("grpo", cfg.grpo, start, frame_fingerprint(train_rl_prompts))
    result = run_training_job(
        "grpo", config, train_rl_prompts, folder, LaunchSettings.from_dict(launch), sft_checkpoint
    )
    log_metadata(
        {
            "grpo_steps": result.steps,
            "grpo_skipped_steps": result.skipped_steps,
            "work_dir": str(folder),
            "mlflow_tracking_uri": tracking or "not configured",
            **result.final_metrics,
        }
    )
    return result.policy_dir, HTMLString(curves_html(folder / "metrics.jsonl", CURVES, "GRPO rewards and KL"))
