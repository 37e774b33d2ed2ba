"""Stage 2, GRPO with GoT-R1's dual-stage rewards.

One step: sample ``G`` chains + images for each of ``B`` prompts -> parse the chains -> the judge scores plan and
image -> the reward combination gives one total per rollout -> group advantages -> ``inner_iterations`` updates of
the clipped objective plus ``beta * KL`` to the reference, over reasoning AND image tokens (span weights apply).
Rollouts whose total is missing (judge failure) are left out of their group and of the loss, and counted.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from gotr1.judges.base import Judge, JudgeRequest
from gotr1.models.base import Rollout, SpanLogprobs
from gotr1.models.janus import JanusPolicy
from gotr1.reasoning.chain import GoTChain, parse
from gotr1.rewards import combine
from gotr1.scenes.spec import SceneSpec
from gotr1.tracking import MetricsLogger
from gotr1.training import grpo_math
from gotr1.training.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from gotr1.training.common import (
    NonFiniteGuard,
    batch_indices,
    cosine_schedule,
    make_optimizer,
    restore_policy,
)
from gotr1.training.config import GRPOConfig

__all__ = ["GRPOResult", "PromptItem", "grpo_loss", "run_grpo"]


@dataclass(frozen=True)
class PromptItem:
    """An RL prompt and, when it has one, its scene spec (the verifier judge needs it)."""

    prompt: str
    spec: SceneSpec | None = None


@dataclass(frozen=True)
class GRPOResult:
    policy_dir: Path
    steps: int
    final_metrics: dict[str, float]
    skipped_steps: int


def grpo_loss(
    logprobs: SpanLogprobs,
    old: SpanLogprobs,
    ref: SpanLogprobs | None,
    rollout: Rollout,
    advantages: torch.Tensor,
    valid: torch.Tensor,
    config: GRPOConfig,
) -> tuple[torch.Tensor, dict[str, float]]:
    """The GRPO loss over both spans of a rollout batch, and its diagnostics.

    Per token: ``w_span * (clip_loss + beta * k3_kl)``; chain tokens use the rollout's chain mask, image tokens
    are all trained; invalid rollouts are masked out. Aggregated by ``config.loss_aggregation``.
    """
    per_token, clipped, kl = [], [], []
    for span, weight in (("chain", config.chain_weight), ("image", config.image_weight)):
        lp, old_lp = getattr(logprobs, span), getattr(old, span)
        loss, was_clipped = grpo_math.clipped_objective(
            lp, old_lp, advantages, config.epsilon, config.epsilon_high
        )
        span_kl = grpo_math.k3_kl(lp, getattr(ref, span)) if ref is not None else torch.zeros_like(lp)
        per_token.append(weight * (loss + config.beta * span_kl))
        clipped.append(was_clipped)
        kl.append(span_kl)
    mask = torch.cat([rollout.chain_mask.bool(), torch.ones_like(rollout.image_ids, dtype=torch.bool)], dim=1)
    mask &= valid[:, None]
    total = grpo_math.aggregate_loss(torch.cat(per_token, dim=1), mask, config.loss_aggregation)
    stats = {
        "kl": float(grpo_math.masked_mean(torch.cat(kl, dim=1).detach(), mask)),
        "clip_fraction": float(grpo_math.masked_mean(torch.cat(clipped, dim=1).float(), mask)),
    }
    return total, stats


def _judge_requests(rollout: Rollout, items: Sequence[PromptItem]) -> tuple[list[JudgeRequest], int]:
    requests, failures = [], 0
    for i, (text, image) in enumerate(zip(rollout.chain_texts, rollout.images, strict=True)):
        item = items[i // rollout.group_size]
        parsed = parse(text)
        chain = parsed if isinstance(parsed, GoTChain) else None
        failures += chain is None
        requests.append(JudgeRequest(item.prompt, chain, image, item.spec))
    return requests, failures


def run_grpo(
    config: GRPOConfig,
    policy: JanusPolicy,
    prompts: Sequence[PromptItem],
    judge: Judge,
    output_dir: str | Path,
    logger: MetricsLogger | None = None,
    progress: bool = True,
) -> GRPOResult:
    """Train ``policy`` in place with GRPO on ``prompts``; resumes from ``output_dir/checkpoints``."""
    if not prompts:
        raise ValueError("run_grpo needs at least one prompt")
    out = Path(output_dir)
    policy.generation = replace(
        policy.generation,
        text_temperature=config.text_temperature,
        image_temperature=config.image_temperature,
        cfg_scale=config.cfg_scale,
        max_chain_tokens=config.max_chain_tokens,
    )
    if config.lora_rank and not policy.has_lora:
        policy.add_lora(config.lora_rank, config.lora_alpha)
    if not config.lora_rank and config.beta > 0:
        policy.freeze_reference()  # the reference is the starting point, before any resume
    ckpt = latest_checkpoint(out / "checkpoints")
    if ckpt is not None:
        restore_policy(policy, ckpt.path / "policy")
    optimizer = make_optimizer(policy, config.learning_rate, config.weight_decay)
    scheduler = cosine_schedule(optimizer, config.warmup_steps, config.steps)
    rng = np.random.default_rng(config.seed)
    start = 0
    if ckpt is not None:
        load_checkpoint(ckpt, optimizer, scheduler, rng)
        start = ckpt.step

    guard = NonFiniteGuard(config.max_nonfinite_steps)
    metrics: dict[str, float] = {}
    bar = tqdm(
        range(start, config.steps), desc="GRPO", disable=not progress, initial=start, total=config.steps
    )
    for step in bar:
        t0 = time.perf_counter()
        items = [prompts[i] for i in batch_indices(len(prompts), config.prompts_per_step, step, config.seed)]
        rollout = policy.rollout(
            [it.prompt for it in items], config.group_size, seed=config.seed * 1_000_003 + step
        )
        t_rollout = time.perf_counter() - t0
        requests, parse_failures = _judge_requests(rollout, items)
        breakdown = combine(judge.judge(requests), config.reward)
        valid = torch.tensor([t is not None for t in breakdown.totals])
        rewards = torch.tensor([t if t is not None else 0.0 for t in breakdown.totals], dtype=torch.float32)
        if not guard.check(rewards, "reward", step):
            scheduler.step()
            continue
        advantages, groups = grpo_math.group_advantages(
            rewards, config.group_size, valid, config.scale_advantages_by_std
        )
        policy.model.train()
        ref = None
        if config.beta > 0:
            with torch.no_grad(), policy.reference():
                ref = policy.logprobs(rollout)
        old = rollout.logprobs
        ok = True
        for _ in range(config.inner_iterations):
            loss, stats = grpo_loss(policy.logprobs(rollout), old, ref, rollout, advantages, valid, config)
            if not guard.check(loss, "GRPO loss", step):
                ok = False
                break
            loss.backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(policy.trainable_parameters(), config.max_grad_norm)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        scheduler.step()
        if not ok:
            continue
        elapsed = time.perf_counter() - t0
        n = len(rollout)
        chain_len = rollout.chain_mask.sum(1).float()
        metrics = {
            **breakdown.metrics("reward/"),
            "grpo/loss": float(loss),
            "grpo/kl": stats["kl"],
            "grpo/clip_fraction": stats["clip_fraction"],
            "grpo/grad_norm": float(grad_norm),
            "grpo/lr": scheduler.get_last_lr()[0],
            "grpo/zero_signal_group_fraction": groups.zero_signal_fraction,
            # Monte-Carlo entropy of each span: mean negative log-prob of the sampled tokens.
            "grpo/entropy_chain": float(-old.chain.sum() / rollout.chain_mask.sum().clamp(min=1)),
            "grpo/entropy_image": float(-old.image.mean()),
            "grpo/chain_length": float(chain_len.mean()),
            "grpo/image_length": float(rollout.image_ids.shape[1]),
            "grpo/parse_failure_rate": parse_failures / n,
            "grpo/judge_failure_rate": sum(breakdown.judge_failures.values()) / (n * 4),
            "grpo/skipped_steps": float(guard.skipped),
            "grpo/step_time": elapsed,
            "grpo/rollout_time": t_rollout,
            "grpo/samples_per_s": n / elapsed,
        }
        bar.set_postfix(reward=f"{metrics['reward/total']:.3f}")
        if logger is not None and step + 1 > logger.last_step():
            logger.log(step + 1, metrics)
        if (step + 1) % config.checkpoint_every == 0 and step + 1 < config.steps:
            save_checkpoint(out / "checkpoints", step + 1, policy, optimizer, scheduler, rng)

    policy.save_pretrained(out / "policy", merge_lora=False)
    return GRPOResult(out / "policy", config.steps, metrics, guard.skipped)
