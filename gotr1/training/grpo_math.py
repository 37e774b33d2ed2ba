"""GRPO's math as pure tensor functions (GOT-R1-FACTS.md section 4).

Shapes: ``N = B * G`` rollouts grouped contiguously (rollout ``i`` belongs to prompt ``i // G``); ``Lc`` chain
tokens, ``Li`` image tokens, ``L = Lc + Li`` tokens of the two spans side by side. Every function here is checked
against a plain loop or a hand-computed value in ``tests/training/test_grpo_math.py``.

One GRPO loss over a rollout batch, as :mod:`gotr1.training.grpo` assembles it::

    rewards, valid = rewards_from_totals(breakdown.totals)             # [N], [N]
    advantages, stats = group_advantages(rewards, G, valid)            # [N]
    advantages = span_advantages(advantages, plan_advantages, Lc, Li, "total")   # [N, L]
    pg, clipped = clipped_objective(logprobs, old_logprobs, advantages, eps)   # [N, L] each
    per_token = pg + beta * k3_kl(logprobs, ref_logprobs)              # [N, L]
    weights = span_weights(chain_mask, Li, w_chain, w_image) * valid   # [N, L]
    loss = aggregate_loss(per_token, weights, "grpo")                  # scalar
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

__all__ = [
    "CHAIN_ADVANTAGES",
    "LOSS_AGGREGATIONS",
    "GroupStats",
    "aggregate_loss",
    "clipped_objective",
    "entropy_from_logits",
    "group_advantages",
    "k3_kl",
    "masked_mean",
    "rewards_from_totals",
    "sampled_entropy",
    "span_advantages",
    "span_weights",
]

LOSS_AGGREGATIONS: tuple[str, ...] = ("grpo", "dr_grpo", "dapo")


@dataclass(frozen=True)
class GroupStats:
    """Facts about the groups of one batch.

    Attributes:
        groups: number of groups (prompts), ``B``.
        zero_signal_groups: groups whose valid rewards are all equal, or that have fewer than two valid members:
            their advantages are all 0, so they contribute no policy gradient (only KL).
        valid: rollouts with a reward (the others were excluded: judge failure).
    """

    groups: int
    zero_signal_groups: int
    valid: int

    @property
    def zero_signal_fraction(self) -> float:
        return self.zero_signal_groups / self.groups if self.groups else 0.0


def rewards_from_totals(totals: Sequence[float | None]) -> tuple[torch.Tensor, torch.Tensor]:
    """Reward totals with holes (``None`` = excluded, e.g. the judge failed) -> ``[N]`` float32 rewards (0.0 at the
    holes; a non-finite total stays non-finite, for the trainer's guard to see) and the ``[N]`` bool valid mask."""
    valid = torch.tensor([t is not None for t in totals], dtype=torch.bool)
    rewards = torch.tensor([0.0 if t is None else float(t) for t in totals], dtype=torch.float32)
    return rewards, valid


def group_advantages(
    rewards: torch.Tensor,
    group_size: int,
    valid: torch.Tensor | None = None,
    scale_by_std: bool = True,
    eps: float = 1e-4,
) -> tuple[torch.Tensor, GroupStats]:
    """GRPO advantages ``A_i = (r_i - mean(r_group)) / (std(r_group) + eps)`` (GoT-R1 section 4.1).

    Args:
        rewards: ``[N]`` rewards; values at invalid positions are ignored.
        group_size: G >= 1; ``N`` must be a multiple of it.
        valid: ``[N]`` bool; rollouts without a reward (judge failure) are left out of their group's mean and
            std and get advantage 0. Defaults to all valid.
        scale_by_std: divide by the group's std (the population std over the valid members, as GoT-R1's formula
            reads); ``False`` gives Dr. GRPO's ``r_i - mean``.
        eps: added to the std so a nearly constant group does not blow up.

    Returns:
        ``[N]`` advantages (0 for invalid rollouts and in groups without signal) and :class:`GroupStats`.
    """
    if group_size < 1 or rewards.ndim != 1 or rewards.numel() % group_size:
        raise ValueError(
            f"rewards must be [N] with N a multiple of group_size={group_size}, got {tuple(rewards.shape)}"
        )
    mask = torch.ones_like(rewards, dtype=torch.bool) if valid is None else valid.to(torch.bool)
    if mask.shape != rewards.shape:
        raise ValueError(f"valid must be {tuple(rewards.shape)} like rewards, got {tuple(mask.shape)}")
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
    stats = GroupStats(groups=r.shape[0], zero_signal_groups=int((~informative).sum()), valid=int(mask.sum()))
    return adv.reshape(-1), stats


CHAIN_ADVANTAGES: tuple[str, ...] = ("total", "plan", "total+plan")


def span_advantages(
    total: torch.Tensor, plan: torch.Tensor, chain_tokens: int, image_tokens: int, chain: str = "total"
) -> torch.Tensor:
    """Per-token advantages ``[N, Lc + Li]`` of the two spans side by side.

    The image tokens always take ``total`` (the advantage of the whole reward). The chain tokens take, by
    ``chain``: ``"total"`` (GoT-R1: one advantage for both spans), ``"plan"`` (the advantage of the plan-stage
    reward ``R_sem + R_spa``, which the chain alone decides), or ``"total+plan"`` (both: the chain keeps the whole
    reward's credit and gets its own stage's on top).

    Args:
        total, plan: ``[N]`` group advantages (:func:`group_advantages`) of the total and of the plan reward.
        chain_tokens, image_tokens: ``Lc`` and ``Li``.
    """
    if chain not in CHAIN_ADVANTAGES:
        raise ValueError(f"chain advantage must be one of {CHAIN_ADVANTAGES}, got {chain!r}")
    if total.shape != plan.shape or total.ndim != 1:
        raise ValueError(
            f"total and plan advantages must both be [N], got {tuple(total.shape)}, {tuple(plan.shape)}"
        )
    chain_adv = {"total": total, "plan": plan, "total+plan": total + plan}[chain]
    return torch.cat(
        [chain_adv[:, None].expand(-1, chain_tokens), total[:, None].expand(-1, image_tokens)], dim=1
    )


def clipped_objective(
    logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    epsilon: float,
    epsilon_high: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token PPO-clip loss ``-min(rho * A, clip(rho, 1 - eps, 1 + eps_high) * A)``, ``rho = exp(lp - old)``.

    Args:
        logprobs: ``[N, L]`` log-probs under the current policy (with gradients).
        old_logprobs: ``[N, L]`` log-probs under the policy that sampled the rollouts (no gradients needed).
        advantages: ``[N]`` (one per rollout, broadcast over its tokens) or ``[N, L]`` per token
            (:func:`span_advantages`).
        epsilon: lower clip range; ``epsilon_high`` the upper one (DAPO's clip-higher), defaults to ``epsilon``.

    Returns:
        ``[N, L]`` per-token losses and ``[N, L]`` bool: where the clipped term is the active one (the token's
        gradient is zero there).
    """
    high = epsilon if epsilon_high is None else epsilon_high
    ratio = torch.exp(logprobs - old_logprobs.detach())
    adv = advantages[:, None] if advantages.ndim == 1 else advantages
    unclipped = ratio * adv
    clipped = torch.clamp(ratio, 1.0 - epsilon, 1.0 + high) * adv
    loss = -torch.minimum(unclipped, clipped)
    return loss, clipped < unclipped


def k3_kl(logprobs: torch.Tensor, ref_logprobs: torch.Tensor) -> torch.Tensor:
    """Per-token k3 estimator of KL(pi || pi_ref) on tokens sampled from pi (Schulman's "approximating KL"):
    ``exp(ref - lp) - (ref - lp) - 1``, unbiased and >= 0. ``[N, L]`` in, ``[N, L]`` out."""
    delta = ref_logprobs.detach() - logprobs
    return torch.exp(delta) - delta - 1.0


def span_weights(
    chain_mask: torch.Tensor, image_tokens: int, chain_weight: float, image_weight: float
) -> torch.Tensor:
    """Token weights over the two spans side by side: ``chain_weight`` on trained chain tokens, ``image_weight``
    on every image token, 0 elsewhere (chain padding, an appended ``<begin_of_image>``).

    Args:
        chain_mask: ``[N, Lc]``, 1 on trained chain tokens.
        image_tokens: ``Li``.

    Returns:
        ``[N, Lc + Li]`` float32 weights.
    """
    chain = chain_mask.to(torch.float32) * chain_weight
    image = torch.full((chain_mask.shape[0], image_tokens), float(image_weight), device=chain_mask.device)
    return torch.cat([chain, image], dim=1)


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``values`` where ``mask`` is non-zero (0 when nothing is); any shape."""
    m = (mask != 0).to(values.dtype)
    return (values * m).sum() / m.sum().clamp(min=1.0)


def aggregate_loss(
    per_token: torch.Tensor,
    weights: torch.Tensor,
    kind: str,
    max_length: int | None = None,
    num_sequences: int | None = None,
    num_tokens: float | None = None,
) -> torch.Tensor:
    """Reduce ``[N, L]`` per-token losses with ``[N, L]`` token weights (0 = not a loss token) to a scalar.

    - ``grpo``: each sequence's weighted token sum / its number of loss tokens, then the mean over sequences with
      at least one loss token (the original GRPO; longer sequences weigh each token less);
    - ``dr_grpo``: weighted sum over all tokens / (N * max_length), ``max_length`` a constant (Dr. GRPO, no
      length bias);
    - ``dapo``: weighted sum over all tokens / the number of loss tokens of the batch (token-level, DAPO).

    With 0/1 weights these are the textbook forms; other weights scale a span's tokens without changing the
    counts in the denominators. ``num_sequences`` (grpo, dr_grpo) and ``num_tokens`` (dapo) replace the batch's
    own counts, so that the losses of micro-batches add up exactly to the loss of the whole batch.
    """
    if per_token.shape != weights.shape or per_token.ndim != 2:
        raise ValueError(
            f"per_token and weights must be the same [N, L] shape, got {tuple(per_token.shape)} and "
            f"{tuple(weights.shape)}"
        )
    w = weights.to(per_token.dtype)
    counted = (weights != 0).to(per_token.dtype)
    if kind == "grpo":
        lengths = counted.sum(dim=1)
        per_seq = (per_token * w).sum(dim=1) / lengths.clamp(min=1.0)
        n = float((lengths > 0).sum()) if num_sequences is None else float(num_sequences)
        return per_seq.sum() / max(n, 1.0)
    if kind == "dr_grpo":
        length = per_token.shape[1] if max_length is None else max_length
        n = per_token.shape[0] if num_sequences is None else num_sequences
        return (per_token * w).sum() / max(n * length, 1)
    if kind == "dapo":
        tokens = float(counted.sum()) if num_tokens is None else float(num_tokens)
        return (per_token * w).sum() / max(tokens, 1.0)
    raise ValueError(f"unknown loss aggregation {kind!r}; expected one of {LOSS_AGGREGATIONS}")


def sampled_entropy(logprobs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Monte-Carlo entropy of a span: the mean of ``-log p`` over the sampled tokens where ``mask`` is set.

    For tokens drawn from ``p`` this is an unbiased estimate of the per-token entropy ``H(p)`` (at the sampling
    temperature), from the log-probs a rollout already holds. ``[N, L]`` in, scalar out.
    """
    return masked_mean(-logprobs.detach(), mask)


def entropy_from_logits(logits: torch.Tensor) -> torch.Tensor:
    """Exact entropy ``-sum_v p_v log p_v`` of ``softmax(logits)`` over the last axis. ``[..., V]`` -> ``[...]``."""
    logp = torch.log_softmax(logits.float(), dim=-1)
    return -(logp.exp() * logp).sum(dim=-1)
