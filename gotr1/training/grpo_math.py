"""GRPO's math as pure tensor functions (GOT-R1-FACTS.md section 4).

Shapes: ``N = B * G`` rollouts grouped contiguously (rollout ``i`` belongs to prompt ``i // G``), ``L`` tokens of
one span. Every function here is checked against a plain loop or a hand-computed value in
``tests/training/test_grpo_math.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = [
    "LOSS_AGGREGATIONS",
    "GroupStats",
    "aggregate_loss",
    "clipped_objective",
    "group_advantages",
    "k3_kl",
    "masked_mean",
]

LOSS_AGGREGATIONS: tuple[str, ...] = ("grpo", "dr_grpo", "dapo")


@dataclass(frozen=True)
class GroupStats:
    """Per-batch facts about the groups: how many carry no signal (all valid rewards equal)."""

    groups: int
    zero_signal_groups: int

    @property
    def zero_signal_fraction(self) -> float:
        return self.zero_signal_groups / self.groups if self.groups else 0.0


def group_advantages(
    rewards: torch.Tensor,
    group_size: int,
    valid: torch.Tensor | None = None,
    scale_by_std: bool = True,
    eps: float = 1e-4,
) -> tuple[torch.Tensor, GroupStats]:
    """GRPO advantages ``A_i = (r_i - mean(r_group)) / (std(r_group) + eps)``.

    Args:
        rewards: ``[N]`` rewards; values at invalid positions are ignored.
        group_size: G; ``N`` must be a multiple of it.
        valid: ``[N]`` bool; rollouts without a reward (judge failure) are left out of their group's statistics
            and get advantage 0. Defaults to all valid.
        scale_by_std: divide by the group's std (population std over valid members); ``False`` is Dr. GRPO.
        eps: added to the std.

    Returns:
        ``[N]`` advantages (0 for invalid rollouts and for groups with fewer than 2 valid members) and the
        group statistics (a group whose valid rewards are all equal carries no signal).
    """
    if rewards.ndim != 1 or rewards.numel() % group_size:
        raise ValueError(
            f"rewards must be [N] with N a multiple of group_size={group_size}, got {tuple(rewards.shape)}"
        )
    mask = torch.ones_like(rewards, dtype=torch.bool) if valid is None else valid.to(torch.bool)
    r = torch.where(mask, rewards, torch.zeros_like(rewards)).view(-1, group_size)
    m = mask.view(-1, group_size).to(rewards.dtype)
    count = m.sum(dim=1, keepdim=True)
    mean = r.sum(dim=1, keepdim=True) / count.clamp(min=1)
    var = (((r - mean) * m) ** 2).sum(dim=1, keepdim=True) / count.clamp(min=1)
    std = var.sqrt()
    adv = r - mean
    if scale_by_std:
        adv = adv / (std + eps)
    informative = (count >= 2) & (std > 0)
    adv = torch.where(informative & (m > 0), adv, torch.zeros_like(adv))
    stats = GroupStats(groups=r.shape[0], zero_signal_groups=int((~informative).sum()))
    return adv.view(-1), stats


def clipped_objective(
    logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    epsilon: float,
    epsilon_high: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token PPO-clip loss ``-min(rho * A, clip(rho, 1 - eps, 1 + eps_high) * A)``.

    Args:
        logprobs, old_logprobs: ``[N, L]`` log-probs under the current and the sampling policy.
        advantages: ``[N]``, broadcast over tokens.
        epsilon: lower clip range; ``epsilon_high`` the upper (DAPO's clip-higher), defaults to ``epsilon``.

    Returns:
        ``[N, L]`` per-token losses and ``[N, L]`` bool: where the clipped term was the active one.
    """
    high = epsilon if epsilon_high is None else epsilon_high
    ratio = torch.exp(logprobs - old_logprobs)
    adv = advantages[:, None]
    unclipped = ratio * adv
    clipped = torch.clamp(ratio, 1.0 - epsilon, 1.0 + high) * adv
    loss = -torch.minimum(unclipped, clipped)
    return loss, clipped < unclipped


def k3_kl(logprobs: torch.Tensor, ref_logprobs: torch.Tensor) -> torch.Tensor:
    """Per-token k3 estimator of KL(pi || pi_ref): ``exp(ref - lp) - (ref - lp) - 1`` (>= 0). ``[N, L]``."""
    delta = ref_logprobs - logprobs
    return torch.exp(delta) - delta - 1.0


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``values`` where ``mask`` is set (0 when nothing is)."""
    m = mask.to(values.dtype)
    return (values * m).sum() / m.sum().clamp(min=1.0)


def aggregate_loss(
    per_token: torch.Tensor, mask: torch.Tensor, kind: str, max_length: int | None = None
) -> torch.Tensor:
    """Reduce ``[N, L]`` per-token losses over a ``[N, L]`` mask to a scalar.

    - ``grpo``: mean over each sequence's tokens, then mean over sequences (the original GRPO);
    - ``dr_grpo``: sum over all tokens / (N * max_length) (Dr. GRPO, no length bias); ``max_length`` defaults to L;
    - ``dapo``: mean over all tokens of the batch (token-level, DAPO).

    Sequences with no masked token contribute nothing to ``grpo``'s mean (and are not counted).
    """
    m = mask.to(per_token.dtype)
    if kind == "grpo":
        lengths = m.sum(dim=1)
        has = lengths > 0
        per_seq = (per_token * m).sum(dim=1) / lengths.clamp(min=1.0)
        return per_seq[has].sum() / has.sum().clamp(min=1)
    if kind == "dr_grpo":
        length = per_token.shape[1] if max_length is None else max_length
        return (per_token * m).sum() / (per_token.shape[0] * length)
    if kind == "dapo":
        return (per_token * m).sum() / m.sum().clamp(min=1.0)
    raise ValueError(f"unknown loss aggregation {kind!r}; expected one of {LOSS_AGGREGATIONS}")
