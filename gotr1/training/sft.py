"""Stage 1, SFT warm-up: cross-entropy on chain tokens (text head) and image tokens (image head).

The prompt is context only. A fraction of rows is made unconditional (prompt and reasoning replaced by padding,
as Janus trains its CFG branch); those rows train only the image span. Resumable from its checkpoints.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from gotr1.models.janus import JanusPolicy
from gotr1.tracking import MetricsLogger
from gotr1.training.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from gotr1.training.common import (
    NonFiniteGuard,
    batch_indices,
    cosine_schedule,
    make_optimizer,
    restore_policy,
)
from gotr1.training.config import SFTConfig

__all__ = ["SFTExample", "SFTResult", "run_sft"]


@dataclass(frozen=True)
class SFTExample:
    """One GoT training record: prompt, chain (ending with ``<begin_of_image>``) and image tokens ``[Li]``."""

    prompt: str
    chain: str
    image_tokens: Sequence[int]


@dataclass(frozen=True)
class SFTResult:
    policy_dir: Path
    steps: int
    final_metrics: dict[str, float]
    skipped_steps: int


def run_sft(
    config: SFTConfig,
    policy: JanusPolicy,
    examples: Sequence[SFTExample],
    output_dir: str | Path,
    logger: MetricsLogger | None = None,
    progress: bool = True,
) -> SFTResult:
    """Train ``policy`` in place on ``examples``; resumes from ``output_dir/checkpoints`` if a checkpoint exists.

    Returns the final policy folder (``output_dir/policy``) and the last logged metrics.
    """
    if not examples:
        raise ValueError("run_sft needs at least one example")
    out = Path(output_dir)
    if config.lora_rank and not policy.has_lora:
        policy.add_lora(config.lora_rank, config.lora_alpha)
    ckpt = latest_checkpoint(out / "checkpoints")
    if ckpt is not None:
        restore_policy(policy, ckpt.path / "policy")
    optimizer = make_optimizer(
        policy, config.learning_rate, config.weight_decay, config.adam_betas, config.adam_eps
    )
    scheduler = cosine_schedule(optimizer, config.warmup_steps, config.steps)
    rng = np.random.default_rng(config.seed)
    start = 0
    if ckpt is not None:
        load_checkpoint(ckpt, optimizer, scheduler, rng)
        start = ckpt.step

    images = torch.as_tensor(np.asarray([list(e.image_tokens) for e in examples]), dtype=torch.long)
    guard = NonFiniteGuard(limit=max(5, config.steps // 100))
    metrics: dict[str, float] = {}
    policy.model.train()
    bar = tqdm(
        range(start, config.steps), desc="SFT", disable=not progress, initial=start, total=config.steps
    )
    for step in bar:
        t0 = time.perf_counter()
        totals = {"loss": 0.0, "chain_loss": 0.0, "image_loss": 0.0}
        ok = True
        for micro in range(config.grad_accumulation):
            idx = batch_indices(
                len(examples), config.batch_size, step * config.grad_accumulation + micro, config.seed
            )
            drop_rng = np.random.default_rng([config.seed, step, micro])
            drop = torch.from_numpy(drop_rng.random(len(idx)) < config.condition_dropout)
            batch = policy.teacher_batch(
                [examples[i].prompt for i in idx], [examples[i].chain for i in idx], images[idx], drop
            )
            lp = policy.logprobs(batch)
            chain_loss = -lp.chain.sum() / batch.chain_mask.sum().clamp(min=1)
            image_loss = -lp.image.mean()
            loss = config.chain_loss_weight * chain_loss + config.image_loss_weight * image_loss
            if not guard.check(loss, "SFT loss", step):
                ok = False
                break
            (loss / config.grad_accumulation).backward()
            for key, value in (("loss", loss), ("chain_loss", chain_loss), ("image_loss", image_loss)):
                totals[key] += value.item() / config.grad_accumulation
        if ok:
            grad_norm = torch.nn.utils.clip_grad_norm_(policy.trainable_parameters(), config.max_grad_norm)
            optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        scheduler.step()
        if not ok:
            continue
        elapsed = time.perf_counter() - t0
        metrics = {
            **{f"sft/{k}": v for k, v in totals.items()},
            "sft/grad_norm": float(grad_norm),
            "sft/lr": scheduler.get_last_lr()[0],
            "sft/step_time": elapsed,
            "sft/samples_per_s": config.batch_size * config.grad_accumulation / elapsed,
            "sft/skipped_steps": float(guard.skipped),
        }
        bar.set_postfix(loss=f"{totals['loss']:.3f}")
        due = (step + 1) % config.log_every == 0 or step + 1 == config.steps
        if logger is not None and due and step + 1 > logger.last_step():
            logger.log(step + 1, metrics)
        if (step + 1) % config.checkpoint_every == 0 and step + 1 < config.steps:
            save_checkpoint(out / "checkpoints", step + 1, policy, optimizer, scheduler, rng)

    policy.save_pretrained(out / "policy")
    return SFTResult(out / "policy", config.steps, metrics, guard.skipped)
