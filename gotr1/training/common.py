"""What the SFT and GRPO trainers share: optimizer and schedule, deterministic data order, resume."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from gotr1.models.janus import JanusPolicy

__all__ = ["NonFiniteGuard", "batch_indices", "cosine_schedule", "make_optimizer", "restore_policy"]


def make_optimizer(
    policy: JanusPolicy,
    lr: float,
    weight_decay: float,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
) -> torch.optim.AdamW:
    params = policy.trainable_parameters()
    if not params:
        raise ValueError("the policy has no trainable parameters")
    return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, betas=betas, eps=eps)


def cosine_schedule(
    optimizer: torch.optim.Optimizer, warmup: int, total: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up for ``warmup`` steps, then cosine decay to 0 at ``total``."""

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total - warmup)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def batch_indices(n: int, batch_size: int, step: int, seed: int) -> np.ndarray:
    """The example indices of ``step``: epochs of seeded permutations, a pure function of its arguments, so a
    resumed run continues exactly where it stopped."""
    start = step * batch_size
    out = []
    while len(out) < batch_size:
        epoch, offset = divmod(start + len(out), n)
        order = np.random.default_rng([seed, epoch]).permutation(n)
        out.extend(order[offset : offset + batch_size - len(out)].tolist())
    return np.asarray(out)


def restore_policy(policy: JanusPolicy, checkpoint_policy_dir: Path) -> None:
    """Load a checkpoint's weights (and adapters) into ``policy`` in place."""
    restored = JanusPolicy.from_pretrained(checkpoint_policy_dir)
    if policy.has_lora:
        from peft import get_peft_model_state_dict, set_peft_model_state_dict

        set_peft_model_state_dict(policy._peft, get_peft_model_state_dict(restored._peft))
        return
    policy.model.load_state_dict(restored.model.state_dict())


class NonFiniteGuard:
    """Counts skipped steps with a non-finite loss or reward; past ``limit`` the run stops with a clear error."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.skipped = 0

    def check(self, value: torch.Tensor | float, what: str, step: int) -> bool:
        """True if ``value`` is finite; otherwise counts the skip (and raises past the limit)."""
        finite = bool(torch.isfinite(torch.as_tensor(value)).all())
        if not finite:
            self.skipped += 1
            if self.skipped > self.limit:
                raise FloatingPointError(
                    f"non-finite {what} at step {step}: {self.skipped} steps skipped, more than the limit of "
                    f"{self.limit}; lower the learning rate or check the rewards"
                )
        return finite
