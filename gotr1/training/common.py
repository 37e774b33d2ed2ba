"""What the SFT and GRPO trainers share: the optimizer and its schedule, backward passes and optimizer steps
(plain PyTorch or through ``accelerate``), the deterministic data order, and the non-finite guard."""

from __future__ import annotations

import math
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from gotr1.models.base import Rollout, SpanLogprobs
from gotr1.models.janus import JanusPolicy
from gotr1.models.planner import PlannerPolicy

if TYPE_CHECKING:
    from accelerate import Accelerator

__all__ = [
    "LogprobModule",
    "NonFiniteGuard",
    "Updater",
    "all_finite",
    "autocast_dtype",
    "batch_indices",
    "cosine_schedule",
    "make_optimizer",
    "restore_policy",
]


def make_optimizer(
    policy: JanusPolicy | PlannerPolicy,
    lr: float,
    weight_decay: float,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
) -> torch.optim.AdamW:
    """AdamW over the policy's trainable parameters (the adapters only, with LoRA)."""
    params = policy.trainable_parameters()
    if not params:
        raise ValueError("the policy has no trainable parameters")
    return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, betas=betas, eps=eps)


def cosine_schedule(
    optimizer: torch.optim.Optimizer, warmup: int, total: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up for ``warmup`` steps, then cosine decay to 0 at ``total`` (stepped once per optimizer step)."""

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total - warmup)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def autocast_dtype(kind: str) -> torch.dtype | None:
    """The training forward's autocast dtype for a config's ``autocast`` value (``None`` = fp32)."""
    return {"bf16": torch.bfloat16, "fp32": None}[kind]


def batch_indices(n: int, batch_size: int, position: int, seed: int) -> np.ndarray:
    """The example indices of batch number ``position``: epochs of seeded permutations of ``range(n)``.

    A pure function of its arguments, so the data position of a run is its batch counter and a resumed run
    continues exactly where it stopped. ``[batch_size]`` int64.
    """
    start = position * batch_size
    out: list[int] = []
    while len(out) < batch_size:
        epoch, offset = divmod(start + len(out), n)
        order = np.random.default_rng([seed, epoch]).permutation(n)
        out.extend(order[offset : offset + batch_size - len(out)].tolist())
    return np.asarray(out, dtype=np.int64)


def restore_policy(policy: JanusPolicy | PlannerPolicy, checkpoint_policy_dir: Path) -> None:
    """Load a checkpoint's weights (the adapters only, with LoRA) into ``policy`` in place."""
    restored: JanusPolicy | PlannerPolicy
    if isinstance(policy, PlannerPolicy):  # the live executor is reused, not reloaded
        restored = PlannerPolicy.from_pretrained(checkpoint_policy_dir, executor=policy.executor)
    else:
        restored = JanusPolicy.from_pretrained(checkpoint_policy_dir)
    if policy.has_lora:
        from peft import get_peft_model_state_dict, set_peft_model_state_dict

        set_peft_model_state_dict(policy._peft, get_peft_model_state_dict(restored._peft))
        return
    policy.model.load_state_dict(restored.model.state_dict())


class LogprobModule(torch.nn.Module):
    """The policy's teacher-forced span log-probs as a module's ``forward``, so that an ``accelerate``
    wrapper (DDP, a DeepSpeed engine) sees the forward pass it has to synchronise. Its parameters are the
    policy model's own."""

    def __init__(self, policy: JanusPolicy | PlannerPolicy) -> None:
        super().__init__()
        self.policy = policy
        self.model = policy.model

    def forward(self, rollout: Rollout, guided: bool | None = None) -> SpanLogprobs:
        return self.policy.logprobs(rollout, guided=guided)


class Updater:
    """Backward passes over micro-batches and one optimizer step, in plain PyTorch or through an
    ``accelerate.Accelerator`` (device placement, DDP or DeepSpeed ZeRO, gradient accumulation).

    Use per optimizer step::

        for batch in micro_batches:
            loss = loss_of(updater.logprobs(batch))
            updater.backward(loss, finite=guard.check(loss, ...))
        grad_norm = updater.step()          # None when the step was skipped

    With an accelerator, its ``gradient_accumulation_steps`` must equal ``micro_batches``. A non-finite
    micro-batch still runs a zero backward there, so every process keeps the same collective schedule, and the
    step is skipped on every process (DeepSpeed's engine steps inside its backward: there the non-finite
    micro-batch contributes a zero gradient).
    """

    def __init__(
        self,
        policy: JanusPolicy | PlannerPolicy,
        optimizer: torch.optim.Optimizer,
        scheduler: torch.optim.lr_scheduler.LRScheduler,
        max_grad_norm: float,
        micro_batches: int,
        accelerator: Accelerator | None = None,
        autocast: torch.dtype | None = None,
        micro_batch_size: int = 1,
    ) -> None:
        self.policy, self.scheduler, self.max_grad_norm = policy, scheduler, max_grad_norm
        self.micro_batches, self.accelerator = micro_batches, accelerator
        policy.autocast_dtype = autocast
        module: Any = LogprobModule(policy)
        if accelerator is not None:
            if accelerator.gradient_accumulation_steps != micro_batches:
                raise ValueError(
                    f"the accelerator accumulates {accelerator.gradient_accumulation_steps} micro-batches but "
                    f"the config has {micro_batches} a step: create Accelerator(gradient_accumulation_steps="
                    f"{micro_batches})"
                )
            plugin = accelerator.state.deepspeed_plugin
            if (
                plugin is not None
            ):  # no dataloader goes through accelerate: fill DeepSpeed's "auto" sizes here
                ds = plugin.deepspeed_config
                if ds.get("train_micro_batch_size_per_gpu", "auto") == "auto":
                    ds["train_micro_batch_size_per_gpu"] = micro_batch_size
                if ds.get("train_batch_size") == "auto":
                    ds["train_batch_size"] = micro_batch_size * micro_batches * accelerator.num_processes
            module, optimizer = accelerator.prepare(module, optimizer)
        self.module, self.optimizer = module, optimizer
        self._skip = False

    @property
    def is_main_process(self) -> bool:
        return self.accelerator is None or bool(self.accelerator.is_main_process)

    def logprobs(self, rollout: Rollout, guided: bool | None = None) -> SpanLogprobs:
        """Span log-probs with gradients, through the (possibly wrapped) module (``guided``: see
        :meth:`JanusPolicy.logprobs`)."""
        return self.module(rollout, guided)  # type: ignore[no-any-return]

    def backward(self, loss: torch.Tensor, finite: bool = True) -> None:
        """Backward of one micro-batch's loss (already divided by the number of micro-batches)."""
        self._skip |= not finite
        if self.accelerator is None:
            if finite:
                loss.backward()
            return
        with self.accelerator.accumulate(self.module):
            self.accelerator.backward(loss if finite else loss.nan_to_num(0.0, 0.0, 0.0) * 0.0)

    def step(self) -> float | None:
        """Clip, step the optimizer and the schedule, zero the gradients; the gradient norm, or ``None`` if the
        step was skipped (a non-finite micro-batch on any process). The schedule advances either way."""
        skip = self._skip
        if self.accelerator is not None:
            flag = torch.tensor([float(skip)], device=self.accelerator.device)
            skip = bool(self.accelerator.reduce(flag, reduction="sum").item() > 0)
        norm: float | None = None
        if not skip:
            params = self.policy.trainable_parameters()
            if self.accelerator is None:
                norm = float(torch.nn.utils.clip_grad_norm_(params, self.max_grad_norm))
            else:
                clipped = self.accelerator.clip_grad_norm_(params, self.max_grad_norm)
                norm = math.nan if clipped is None else float(clipped)
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.scheduler.step()
        self._skip = False
        return norm

    def no_grad_logprobs(self, rollout: Rollout, reference: bool = False) -> SpanLogprobs:
        """Span log-probs without gradients (the reference policy's with ``reference=True``)."""
        with torch.no_grad(), self.policy.reference() if reference else nullcontext():
            return self.policy.logprobs(rollout)


def all_finite(value: torch.Tensor | float) -> bool:
    """Whether every element of ``value`` is finite."""
    return bool(torch.isfinite(torch.as_tensor(value)).all())


class NonFiniteGuard:
    """Counts steps skipped for a non-finite loss or reward; past ``limit`` the run stops with a clear error."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.skipped = 0

    def skip(self, what: str, step: int) -> None:
        """Count one skipped step; raise :class:`FloatingPointError` past the limit."""
        self.skipped += 1
        if self.skipped > self.limit:
            raise FloatingPointError(
                f"non-finite {what} at step {step}: {self.skipped} steps skipped, more than the limit of "
                f"{self.limit}; lower the learning rate or check the rewards"
            )
