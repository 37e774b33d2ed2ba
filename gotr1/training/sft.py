"""Stage 1, SFT warm-up: cross-entropy on the chain tokens (text head) and the image tokens (image head).

The prompt is context only (never a target). A fraction ``condition_dropout`` of the rows is made
unconditional, prompt and reasoning replaced by padding as Janus trains its classifier-free-guidance branch;
those rows train only their image span. Without it the unconditional logits that CFG subtracts are untrained
and guidance hurts. A planner (:class:`gotr1.models.planner.PlannerPolicy`) trains its chain only: its executor
draws images and is never trained. Resumable from its checkpoints; runs under ``accelerate`` when given an
``Accelerator``.

One step::

    for each of grad_accumulation micro-batches (examples in a seeded epoch order):
        batch = policy.teacher_batch(prompts, chains, image tokens, drop_condition)
        loss = w_chain * mean CE(chain tokens) + w_image * mean CE(image tokens)
        backward(loss / grad_accumulation)
    clip, AdamW step, cosine schedule with linear warm-up
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from tqdm.auto import tqdm

from gotr1.data.curation import read_image
from gotr1.models.base import ImageCodec
from gotr1.models.janus import JanusPolicy
from gotr1.models.planner import PlannerPolicy
from gotr1.tracking import MetricsLogger
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
from gotr1.training.config import SFTConfig, config_to_dict

if TYPE_CHECKING:
    from accelerate import Accelerator

__all__ = ["SFTExample", "SFTResult", "image_batch", "run_sft", "sft_loss"]


@dataclass(frozen=True)
class SFTExample:
    """One GoT training record: prompt, chain (ending with ``<begin_of_image>``) and its image, as codec tokens
    ``[Li]`` or, for real GoT data, an image file that the policy's codec encodes when the example's batch is
    built (:func:`image_batch`; no pass over the whole data set first, and each process encodes only what it
    trains on). Empty both for a planner, whose executor is not trained.

    From the synthetic world (:func:`gotr1.embedded.sft_examples`) or curated GoT records
    (:func:`gotr1.embedded.sft_examples_from_frame`).
    """

    prompt: str
    chain: str
    image_tokens: Sequence[int] = ()
    image_uri: str = ""


def image_batch(codec: ImageCodec, examples: Sequence[SFTExample]) -> torch.Tensor:
    """``[N, Li]`` image tokens of ``examples``: their own tokens, or their image files (local or ``s3://``, read
    with :func:`gotr1.data.curation.read_image`) encoded by ``codec.encode_images`` in one batch.

    Raises:
        ValueError: an example has neither, or only a file and ``codec`` cannot encode image files.
        FileNotFoundError: an image file is missing (its URI is in the message).
    """
    rows: list[Sequence[int] | None] = [e.image_tokens if len(e.image_tokens) else None for e in examples]
    missing = [i for i, row in enumerate(rows) if row is None]
    if missing:
        uris = [examples[i].image_uri for i in missing]
        if not all(uris):
            raise ValueError(
                f"SFT example {missing[uris.index('')]} has neither image tokens nor an image file"
            )
        encode = getattr(codec, "encode_images", None)
        if encode is None:
            raise ValueError(f"{type(codec).__name__} cannot encode image files such as {uris[0]}")
        codes = encode([read_image(u) for u in uris]).tolist()
        for i, row in zip(missing, codes, strict=True):
            rows[i] = row
    return torch.as_tensor(np.asarray([list(r or ()) for r in rows]), dtype=torch.long)


@dataclass(frozen=True)
class SFTResult:
    """Where the trained policy is and how the run ended.

    Attributes:
        policy_dir: the final policy checkpoint (Hugging Face format, ``gotr1.backends.load_trained_policy``).
        steps: optimizer steps the run reached (its config's ``steps``).
        final_metrics: the last logged metrics (``sft/loss``, ``sft/chain_loss``, ``sft/image_loss``, ...).
        skipped_steps: steps skipped for a non-finite loss.
    """

    policy_dir: Path
    steps: int
    final_metrics: dict[str, float]
    skipped_steps: int


def sft_loss(
    policy_or_updater: JanusPolicy | PlannerPolicy | Updater,
    batch_examples: Sequence[SFTExample],
    drop_condition: torch.Tensor,
    config: SFTConfig,
) -> tuple[torch.Tensor, dict[str, float]]:
    """The SFT loss of one micro-batch and its parts.

    Args:
        policy_or_updater: the policy (or the trainer's :class:`Updater`, whose forward goes through accelerate).
        batch_examples: N examples.
        drop_condition: ``[N]`` bool, the rows made unconditional (Janus only: a planner has no CFG branch and
            trains every row's chain).

    Returns:
        The weighted loss (scalar, with gradients) and its parts, mean token cross-entropies: ``chain_loss``, and
        ``image_loss`` for a policy that generates image tokens (a planner's executor is not trained).
    """
    policy = policy_or_updater.policy if isinstance(policy_or_updater, Updater) else policy_or_updater
    prompts, chains = [e.prompt for e in batch_examples], [e.chain for e in batch_examples]
    if isinstance(policy, PlannerPolicy):
        batch = policy.teacher_batch(prompts, chains)
        chain_loss = -policy_or_updater.logprobs(batch).chain.sum() / batch.chain_mask.sum().clamp(min=1)
        return config.chain_loss_weight * chain_loss, {"chain_loss": float(chain_loss.detach())}
    batch = policy.teacher_batch(prompts, chains, image_batch(policy.codec, batch_examples), drop_condition)
    # SFT trains the conditional model (and, through the dropped rows, its CFG twin): never guided log-probs
    lp = policy_or_updater.logprobs(batch, guided=False)
    chain_loss = -lp.chain.sum() / batch.chain_mask.sum().clamp(min=1)
    image_loss = -lp.image.mean()
    loss = config.chain_loss_weight * chain_loss + config.image_loss_weight * image_loss
    return loss, {"chain_loss": float(chain_loss.detach()), "image_loss": float(image_loss.detach())}


def run_sft(
    config: SFTConfig,
    policy: JanusPolicy | PlannerPolicy,
    examples: Sequence[SFTExample],
    output_dir: str | Path,
    logger: MetricsLogger | None = None,
    *,
    accelerator: Accelerator | None = None,
    progress: bool = True,
) -> SFTResult:
    """Train ``policy`` in place on ``examples``; resumes from ``output_dir/checkpoints`` if one exists.

    Args:
        config: the SFT settings.
        policy: a fresh tiny Janus or planner, or a pretrained one (LoRA adapters are added when
            ``config.lora_rank`` and it has none yet). A planner trains its chain only.
        examples: the training records.
        output_dir: checkpoints go to ``output_dir/checkpoints``, the final policy to ``output_dir/policy``.
        logger: metrics every ``config.log_every`` steps (a step already logged is never logged again).
        accelerator: run under ``accelerate`` (its ``gradient_accumulation_steps`` must equal
            ``config.grad_accumulation``); each process reads its own slice of every batch position.
        progress: show a progress bar.

    Returns:
        :class:`SFTResult`.
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
    updater = Updater(
        policy,
        optimizer,
        scheduler,
        config.max_grad_norm,
        config.grad_accumulation,
        accelerator,
        autocast_dtype(config.autocast),
        micro_batch_size=config.batch_size,
    )
    start = 0
    if ckpt is not None:
        start = load_checkpoint(ckpt, updater.optimizer, scheduler, expect=_run_identity(config, examples))
    processes = 1 if accelerator is None else accelerator.num_processes
    rank = 0 if accelerator is None else accelerator.process_index

    guard = NonFiniteGuard(limit=max(5, config.steps // 100))
    metrics: dict[str, float] = {}
    policy.model.train()
    bar = tqdm(
        range(start, config.steps),
        desc="SFT",
        disable=not (progress and updater.is_main_process),
        initial=start,
        total=config.steps,
    )
    for step in bar:
        t0 = time.perf_counter()
        totals: dict[str, float] = {}
        for micro in range(config.grad_accumulation):
            position = (step * config.grad_accumulation + micro) * processes + rank
            idx = batch_indices(len(examples), config.batch_size, position, config.seed)
            drop_rng = np.random.default_rng([config.seed, position])
            drop = torch.from_numpy(drop_rng.random(len(idx)) < config.condition_dropout)
            loss, parts = sft_loss(updater, [examples[i] for i in idx], drop, config)
            finite = all_finite(loss)
            updater.backward(loss / config.grad_accumulation, finite)
            for key, value in (("loss", float(loss.detach())), *parts.items()):
                totals[key] = totals.get(key, 0.0) + value / config.grad_accumulation
        grad_norm = updater.step()
        if grad_norm is None:
            guard.skip("SFT loss", step)
            continue
        elapsed = time.perf_counter() - t0
        metrics = {
            **{f"sft/{k}": v for k, v in totals.items()},
            "sft/grad_norm": grad_norm,
            "sft/lr": scheduler.get_last_lr()[0],
            "sft/step_time": elapsed,
            "sft/samples_per_s": config.batch_size * config.grad_accumulation * processes / elapsed,
            "sft/skipped_steps": float(guard.skipped),
        }
        bar.set_postfix(loss=f"{totals['loss']:.3f}")
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
                identity=_run_identity(config, examples),
                data_position=(step + 1) * config.grad_accumulation * processes,
            )

    if updater.is_main_process:
        policy.save_pretrained(out / "policy")
    return SFTResult(out / "policy", config.steps, metrics, guard.skipped)


def _run_identity(config: SFTConfig, examples: Sequence[SFTExample]) -> dict[str, object]:
    """What a checkpoint must agree with to be resumed: the config and the data set's size."""
    return {"kind": "sft", "config": config_to_dict(config), "examples": len(examples)}
