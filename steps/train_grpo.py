"""GRPO from the SFT checkpoint with the dual-stage rewards of the verifier judge."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import pandas as pd
from zenml import log_metadata, step
from zenml.types import HTMLString

from gotr1.backends import JudgeSpec, PolicySpec, build_judge, load_policy
from gotr1.embedded import prompt_items
from gotr1.evaluation.report import curves_png
from gotr1.models.janus import JanusPolicy
from gotr1.tracking import read_jsonl_metrics
from gotr1.training.grpo import run_grpo
from steps._config import embedded_config, fingerprint, metrics_logger, work_dir


@step
def train_grpo(
    sft_checkpoint: Path | None, rl_prompts: pd.DataFrame, config: dict[str, Any] | None = None
) -> tuple[Annotated[Path, "grpo_checkpoint"], Annotated[HTMLString, "reward_curves"]]:
    """GRPO from the SFT checkpoint (embedded default) or from ``config.policy`` (Janus-Pro at full scale), judged
    by ``config.judge`` (the verifier, or an MLLM served over HTTP)."""
    cfg = embedded_config(config)
    if sft_checkpoint is not None:
        policy, source = JanusPolicy.from_pretrained(sft_checkpoint), fingerprint(sft_checkpoint)
    else:
        spec = PolicySpec.from_dict((config or {}).get("policy"))
        policy, source = load_policy(spec), str(spec.path)
    judge = build_judge(JudgeSpec.from_dict((config or {}).get("judge")), policy.codec)
    folder = work_dir("grpo", cfg.grpo, source, len(rl_prompts))
    result = run_grpo(
        cfg.grpo, policy, prompt_items(rl_prompts), judge, folder, metrics_logger("grpo", folder)
    )
    log_metadata(
        {"grpo_steps": result.steps, "grpo_skipped_steps": result.skipped_steps, **result.final_metrics}
    )
    rows = read_jsonl_metrics(folder / "metrics.jsonl")
    keys = ("reward/total", "reward/r_sem", "reward/r_spa", "reward/r_ri", "reward/r_pi", "grpo/kl")
    curves = {k: [(int(r["step"]), float(r[k])) for r in rows if r.get(k) is not None] for k in keys}
    page = f"<html><body><h2>GRPO reward curves</h2><img src='{curves_png(curves, 'GRPO')}'/></body></html>"
    return result.policy_dir, HTMLString(page)
