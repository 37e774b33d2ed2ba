"""Stage 2, GRPO with GoT-R1's dual-stage rewards (GOT-R1-FACTS.md sections 3-4).

One step::

    B prompts (seeded epoch order) -> rollout: G chains + images each, sampled with CFG
    -> parse the chains -> the judge scores plan and image (r_sem, r_spa, r_ri, r_pi)
    -> reward combination: one total per rollout (None = excluded, counted)
    -> group advantages (r - mean) / (std + eps) within each prompt's G samples, per token: the image tokens
       take the total's; the chain tokens the total's too (GoT-R1), or with ``chain_advantage`` those of the
       plan-stage reward R_sem + R_spa (alone, or added)
    -> mu inner iterations, each one optimizer step over micro-batches of rollouts:
         loss = aggregate(w_span * (clip(ratio, eps) * A + beta * k3 KL to the reference))
       over reasoning AND image tokens; old log-probs are the policy's before the first iteration
       (with mu = 1 they equal the current ones, the ratio is 1 and its gradient is REINFORCE's)

The reference is the policy with its LoRA adapters disabled, or a frozen copy of the starting weights for full
fine-tuning. Non-finite rewards or losses skip the step (counted; past ``max_nonfinite_steps`` the run stops).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from tqdm.auto import tqdm

from gotr1.judges.base import Judge, JudgeRequest, Verdict
from gotr1.models.base import Rollout, SpanLogprobs
from gotr1.models.janus import JanusPolicy
from gotr1.models.planner import PlannerPolicy
from gotr1.reasoning.chain import GoTChain, parse
from gotr1.rewards import RewardBreakdown, combine
from gotr1.scenes.spec import SceneSpec
from gotr1.tracking import MetricsLogger
from gotr1.training import grpo_math
from gotr1.training.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from gotr1.training.common import (
    NonFiniteGuard,
    Updater,
    all_finite,
    autocast_dtype,
    batch_indices,
    cosine_schedule,
    make_optimizer,
    restore_policy,
)
from gotr1.training.config import GRPOConfig, config_to_dict

if TYPE_CHECKING:
    from accelerate import Accelerator

__all__ = ["GRPOResult", "PromptItem", "grpo_loss", "judge_rollout", "rollout_rows", "run_grpo"]


@dataclass(frozen=True)
class PromptItem:
    """An RL prompt and, when it has one, its scene spec (the verifier judge needs it)."""

    prompt: str
    spec: SceneSpec | None = None


@dataclass(frozen=True)
class GRPOResult:
    """Where the trained policy is and how the run ended.

    Attributes:
        policy_dir: the final policy (adapters kept separate with LoRA; ``JanusPolicy.from_pretrained``).
        steps: optimizer steps (outer GRPO steps) the run reached.
        final_metrics: the last step's metrics (``reward/*``, ``grpo/*``).
        skipped_steps: steps skipped for a non-finite reward or loss.
    """

    policy_dir: Path
    steps: int
    final_metrics: dict[str, float]
    skipped_steps: int


def judge_rollout(
    rollout: Rollout, items: Sequence[PromptItem], judge: Judge
) -> tuple[list[Verdict], list[bool]]:
    """Parse each chain and judge chain + image against its prompt (rollout ``i`` answers ``items[i // G]``).

    Returns:
        The N verdicts and, per rollout, whether its chain parsed (an unparsed chain reaches the judge as
        ``chain=None`` and gets plan rewards 0.0).
    """
    requests, parsed = [], []
    for i, (text, image) in enumerate(zip(rollout.chain_texts, rollout.images, strict=True)):
        item = items[i // rollout.group_size]
        chain = parse(text)
        ok = isinstance(chain, GoTChain)
        parsed.append(ok)
        requests.append(JudgeRequest(item.prompt, chain if ok else None, image, item.spec))
    return judge.judge(requests), parsed


def rollout_rows(rollout: Rollout, rows: slice) -> Rollout:
    """Rows ``rows`` of a rollout (a micro-batch for the training forward; ``prompts`` stays the whole list)."""
    return replace(
        rollout,
        prompt_ids=rollout.prompt_ids[rows],
        prompt_mask=rollout.prompt_mask[rows],
        chain_ids=rollout.chain_ids[rows],
        chain_mask=rollout.chain_mask[rows],
        chain_attention=rollout.chain_attention[rows],
        image_ids=rollout.image_ids[rows],
        logprobs=SpanLogprobs(rollout.logprobs.chain[rows], rollout.logprobs.image[rows]),
        chain_texts=rollout.chain_texts[rows],
        images=rollout.images[rows],
    )


def _cat(lp: SpanLogprobs) -> torch.Tensor:
    return torch.cat([lp.chain, lp.image], dim=1)


def grpo_loss(
    logprobs: SpanLogprobs,
    old: SpanLogprobs,
    ref: SpanLogprobs | None,
    chain_mask: torch.Tensor,
    advantages: torch.Tensor,
    valid: torch.Tensor,
    config: GRPOConfig,
    num_sequences: int | None = None,
    num_tokens: float | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """The GRPO loss over both spans of a batch of rollouts, and its diagnostics.

    Per token ``w_span * (clip_loss + beta * k3_kl)``; chain tokens where ``chain_mask`` is set, every image
    token; rollouts with ``valid`` False (no reward) carry no loss. Reduced by ``config.loss_aggregation``
    (``num_sequences`` / ``num_tokens`` are the whole batch's when this is one micro-batch of it).

    Args:
        logprobs: current ``[n, Lc]`` / ``[n, Li]`` log-probs (with gradients).
        old: the sampling-time policy's, same shapes.
        ref: the reference policy's, or ``None`` when ``beta == 0``.
        chain_mask: ``[n, Lc]`` trained chain tokens.
        advantages: ``[n]`` (one per rollout) or ``[n, Lc + Li]`` per token (:func:`grpo_math.span_advantages`).
        valid: ``[n]``.

    Returns:
        The scalar loss and ``{"kl", "clip_fraction", "kl_chain", "kl_image"}`` (means over loss tokens).
    """
    lp, old_lp = _cat(logprobs), _cat(old)
    per_token, clipped = grpo_math.clipped_objective(
        lp, old_lp, advantages, config.epsilon, config.epsilon_high
    )
    kl = grpo_math.k3_kl(lp, _cat(ref)) if ref is not None else torch.zeros_like(lp)
    if config.beta > 0:
        per_token = per_token + config.beta * kl
    li = logprobs.image.shape[1]
    weights = grpo_math.span_weights(chain_mask, li, config.chain_weight, config.image_weight)
    weights = weights * valid[:, None].to(weights.dtype)
    loss = grpo_math.aggregate_loss(
        per_token,
        weights,
        config.loss_aggregation,
        max_length=config.max_chain_tokens + li,
        num_sequences=num_sequences,
        num_tokens=num_tokens,
    )
    kl, tokens, lc = kl.detach(), weights != 0, logprobs.chain.shape[1]
    stats = {
        "kl": float(grpo_math.masked_mean(kl, tokens)),
        "kl_chain": float(grpo_math.masked_mean(kl[:, :lc], tokens[:, :lc])),
        "kl_image": float(grpo_math.masked_mean(kl[:, lc:], tokens[:, lc:])),
        "clip_fraction": float(grpo_math.masked_mean(clipped.float(), tokens)),
    }
    return loss, stats


def run_grpo(
    config: GRPOConfig,
    policy: JanusPolicy | PlannerPolicy,
    prompts: Sequence[PromptItem],
    judge: Judge,
    output_dir: str | Path,
    logger: MetricsLogger | None = None,
    *,
    accelerator: Accelerator | None = None,
    progress: bool = True,
) -> GRPOResult:
    """Train ``policy`` in place with GRPO on ``prompts``; resumes from ``output_dir/checkpoints``.

    Args:
        config: the GRPO settings (also the rollout's temperatures, CFG and chain budget).
        policy: the SFT checkpoint (``JanusPolicy.from_pretrained``), a pretrained Janus-Pro, or a planner +
            executor (:class:`gotr1.models.planner.PlannerPolicy`, trained on its chain only); LoRA adapters
            are added when ``config.lora_rank`` (the reference is then the adapters disabled), otherwise a
            frozen copy of the starting weights is the reference.
        prompts: the RL prompts (with scene specs for the verifier judge).
        judge: scores chains and images (:class:`gotr1.judges.base.Judge`).
        output_dir: checkpoints in ``output_dir/checkpoints``, the final policy in ``output_dir/policy``.
        logger: every ``config.log_every`` steps: each reward component's mean, total mean and std, KL, clip
            fraction, entropy of each span, chain and image lengths, parse and judge failure rates, the
            fraction of groups without signal, step time, samples/s.
        accelerator: run under ``accelerate`` (its ``gradient_accumulation_steps`` must equal the micro-batches
            of one update, ``B * G / micro_batch_size``); each process samples its own prompts.
        progress: show a progress bar.

    Raises:
        gotr1.rewards.JudgeFailureRateExceeded: too many rollouts without a reward in one step.
        FloatingPointError: more than ``config.max_nonfinite_steps`` steps skipped.
    """
    if not prompts:
        raise ValueError("run_grpo needs at least one prompt")
    out = Path(output_dir)
    # A policy without trainable image tokens (the planner + executor family: the image span holds what a frozen
    # executor drew, with no log-probs) is trained on its chain only: its image span weighs 0 in the loss.
    trains_image = policy.trains_image_tokens
    loss_config = config if trains_image else replace(config, image_weight=0.0)
    policy.generation = replace(
        policy.generation,
        text_temperature=config.text_temperature,
        image_temperature=config.image_temperature,
        cfg_scale=config.cfg_scale,
        max_chain_tokens=config.max_chain_tokens,
        image_logprobs=config.image_logprobs,
    )
    if config.lora_rank and not policy.has_lora:
        policy.add_lora(config.lora_rank, config.lora_alpha)
    if not policy.has_lora and config.beta > 0:
        policy.freeze_reference()  # the starting weights, before any resume
    ckpt = latest_checkpoint(out / "checkpoints")
    if ckpt is not None:
        restore_policy(policy, ckpt.path / "policy")
    optimizer = make_optimizer(policy, config.learning_rate, config.weight_decay, config.adam_betas)
    scheduler = cosine_schedule(optimizer, config.warmup_steps, config.steps * config.inner_iterations)
    n = config.rollouts_per_step
    micro = config.micro_batch_size or n
    updater = Updater(
        policy,
        optimizer,
        scheduler,
        config.max_grad_norm,
        n // micro,
        accelerator,
        autocast_dtype(config.autocast),
        micro_batch_size=micro,
    )
    identity = {"kind": "grpo", "config": config_to_dict(config), "prompts": len(prompts)}
    start = 0 if ckpt is None else load_checkpoint(ckpt, updater.optimizer, scheduler, identity)
    processes = 1 if accelerator is None else accelerator.num_processes
    rank = 0 if accelerator is None else accelerator.process_index

    guard = NonFiniteGuard(config.max_nonfinite_steps)
    metrics: dict[str, float] = {}
    bar = tqdm(
        range(start, config.steps),
        desc="GRPO",
        disable=not (progress and updater.is_main_process),
        initial=start,
        total=config.steps,
    )
    for step in bar:
        t0 = time.perf_counter()
        position = step * processes + rank
        items = [
            prompts[i] for i in batch_indices(len(prompts), config.prompts_per_step, position, config.seed)
        ]
        rollout = policy.rollout(
            [it.prompt for it in items], config.group_size, seed=config.seed * 1_000_003 + position
        )
        t_rollout = time.perf_counter() - t0
        verdicts, parsed = judge_rollout(rollout, items, judge)
        breakdown = combine(verdicts, config.reward)
        rewards, valid = grpo_math.rewards_from_totals(breakdown.totals)
        if not _everywhere(all_finite(rewards), accelerator):
            guard.skip("reward", step)
            _advance(scheduler, config.inner_iterations)
            continue
        advantages, groups = grpo_math.group_advantages(
            rewards, config.group_size, valid, config.scale_advantages_by_std
        )
        plan_advantages = _plan_advantages(breakdown, config, valid)
        token_advantages = grpo_math.span_advantages(
            advantages,
            plan_advantages,
            rollout.chain_ids.shape[1],
            rollout.image_ids.shape[1],
            config.chain_advantage,
        )
        policy.model.train()
        old = updater.no_grad_logprobs(rollout) if config.inner_iterations > 1 else None
        ref = updater.no_grad_logprobs(rollout, reference=True) if config.beta > 0 else None
        # Whole-batch normalisers, so the micro-batch losses add up to the batch's loss.
        weights = grpo_math.span_weights(
            rollout.chain_mask, rollout.image_ids.shape[1], 1.0, 1.0 if trains_image else 0.0
        )
        weights = weights * valid[:, None]
        num_sequences = int((weights.sum(1) > 0).sum()) if config.loss_aggregation == "grpo" else n
        num_tokens = float((weights != 0).sum())

        losses, stats, grad_norm = [], {}, float("nan")
        for _ in range(config.inner_iterations):
            loss_sum, parts = 0.0, []
            for lo in range(0, n, micro):
                rows = slice(lo, lo + micro)
                sub = rollout_rows(rollout, rows)
                lp = updater.logprobs(sub)
                sub_old = _detach(lp) if old is None else _rows(old, rows)
                loss, part = grpo_loss(
                    lp,
                    sub_old,
                    None if ref is None else _rows(ref, rows),
                    sub.chain_mask,
                    token_advantages[rows],
                    valid[rows],
                    loss_config,
                    num_sequences,
                    num_tokens,
                )
                updater.backward(loss, all_finite(loss))
                loss_sum += float(loss.detach())
                parts.append(part)
            norm = updater.step()
            if norm is None:
                break
            losses.append(loss_sum)
            grad_norm = norm
            if not stats:  # diagnostics of the first iteration: the policy that sampled
                stats = {k: sum(p[k] for p in parts) / len(parts) for k in parts[0]}
        if len(losses) < config.inner_iterations:
            guard.skip("GRPO loss", step)
            _advance(scheduler, config.inner_iterations - len(losses) - 1)
            continue

        elapsed = time.perf_counter() - t0
        metrics = {
            **_reward_metrics(breakdown, verdicts),
            "grpo/loss": losses[-1],
            "grpo/kl": stats["kl"],
            "grpo/kl_chain": stats["kl_chain"],
            "grpo/kl_image": stats["kl_image"],
            "grpo/clip_fraction": stats["clip_fraction"],
            "grpo/grad_norm": grad_norm,
            "grpo/lr": scheduler.get_last_lr()[0],
            "grpo/advantage_abs_mean": float(advantages.abs().mean()),
            "grpo/plan_advantage_abs_mean": float(plan_advantages.abs().mean()),
            "grpo/zero_signal_group_fraction": groups.zero_signal_fraction,
            "grpo/entropy_chain": float(
                grpo_math.sampled_entropy(rollout.logprobs.chain, rollout.chain_mask)
            ),
            "grpo/entropy_image": float(
                grpo_math.sampled_entropy(rollout.logprobs.image, torch.ones_like(rollout.image_ids))
            ),
            "grpo/chain_length": float(rollout.chain_mask.sum(1).float().mean()),
            "grpo/image_length": float(rollout.image_ids.shape[1]),
            "grpo/parse_failure_rate": 1.0 - sum(parsed) / len(parsed),
            "grpo/skipped_steps": float(guard.skipped),
            "grpo/rollout_time": t_rollout,
            "grpo/step_time": elapsed,
            "grpo/samples_per_s": n * processes / elapsed,
        }
        bar.set_postfix(reward=f"{metrics['reward/total']:.3f}", kl=f"{stats['kl']:.4f}")
        if not updater.is_main_process:
            continue
        due = (step + 1) % config.log_every == 0 or step + 1 == config.steps
        if logger is not None and due and step + 1 > logger.last_step():
            logger.log(step + 1, metrics)
        if (step + 1) % config.checkpoint_every == 0 and step + 1 < config.steps:
            save_checkpoint(
                out / "checkpoints",
                step + 1,
                policy,
                updater.optimizer,
                scheduler,
                identity,
                data_position=(step + 1) * processes,
            )

    if updater.is_main_process:
        policy.save_pretrained(out / "policy")
    return GRPOResult(out / "policy", config.steps, metrics, guard.skipped)


def _reward_metrics(breakdown: RewardBreakdown, verdicts: Sequence[Verdict]) -> dict[str, float]:
    """``reward/<component>`` means, ``reward/total`` mean and std, and the judge-failure rate (the fraction
    of rollouts with at least one failed judge call)."""
    metrics = breakdown.metrics("reward/")
    metrics["grpo/judge_failure_rate"] = sum(bool(v.failures) for v in verdicts) / max(len(verdicts), 1)
    return metrics


def _plan_advantages(breakdown: RewardBreakdown, config: GRPOConfig, valid: torch.Tensor) -> torch.Tensor:
    """``[N]`` group advantages of the plan-stage reward ``R_sem + R_spa`` (a chain that does not parse has 0 for
    both; a rollout without a total, or without either score, gets 0)."""
    sem, spa = breakdown.components["r_sem"], breakdown.components["r_spa"]
    plan = [None if a is None or b is None else a + b for a, b in zip(sem, spa, strict=True)]
    rewards, has_plan = grpo_math.rewards_from_totals(plan)
    advantages, _ = grpo_math.group_advantages(
        rewards, config.group_size, has_plan & valid, config.scale_advantages_by_std
    )
    return advantages


def _rows(lp: SpanLogprobs, rows: slice) -> SpanLogprobs:
    return SpanLogprobs(lp.chain[rows], lp.image[rows])


def _detach(lp: SpanLogprobs) -> SpanLogprobs:
    return SpanLogprobs(lp.chain.detach(), lp.image.detach())


def _advance(scheduler: torch.optim.lr_scheduler.LRScheduler, steps: int) -> None:
    """Keep the schedule on the optimizer-step count when updates were skipped."""
    for _ in range(steps):
        scheduler.step()


def _everywhere(ok: bool, accelerator: Accelerator | None) -> bool:
    """``ok`` on every process (so that all of them skip a step together)."""
    if accelerator is None:
        return ok
    flag = torch.tensor([0.0 if ok else 1.0], device=accelerator.device)
    return bool(accelerator.reduce(flag, reduction="sum").item() == 0)
