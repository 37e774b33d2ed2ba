"""GRPO math against hand-computed values and plain loop references."""

from __future__ import annotations

import math

import pytest
import torch

from gotr1.training import grpo_math as gm


def loop_advantages(rewards: list[float], g: int, valid: list[bool], scale: bool, eps: float) -> list[float]:
    out = []
    for start in range(0, len(rewards), g):
        members = [(r, v) for r, v in zip(rewards[start : start + g], valid[start : start + g], strict=True)]
        vals = [r for r, v in members if v]
        mean = sum(vals) / len(vals) if vals else 0.0
        std = math.sqrt(sum((r - mean) ** 2 for r in vals) / len(vals)) if vals else 0.0
        for r, v in members:
            if not v or len(vals) < 2 or std == 0:
                out.append(0.0)
            else:
                out.append((r - mean) / (std + eps) if scale else r - mean)
    return out


def test_group_advantages_hand_computed() -> None:
    # Group [1, 0]: mean 0.5, population std 0.5 -> advantages +-1 (eps aside).
    adv, stats = gm.group_advantages(torch.tensor([1.0, 0.0, 2.0, 2.0]), 2, eps=0.0)
    assert adv.tolist() == pytest.approx([1.0, -1.0, 0.0, 0.0])
    assert stats.groups == 2 and stats.zero_signal_groups == 1 and stats.zero_signal_fraction == 0.5


@pytest.mark.parametrize("scale", [True, False])
def test_group_advantages_match_loop_reference(scale: bool) -> None:
    gen = torch.Generator().manual_seed(0)
    rewards = torch.rand(24, generator=gen)
    valid = torch.rand(24, generator=gen) > 0.2
    adv, _ = gm.group_advantages(rewards, 4, valid, scale_by_std=scale, eps=1e-4)
    expected = loop_advantages(rewards.tolist(), 4, valid.tolist(), scale, 1e-4)
    assert adv.tolist() == pytest.approx(expected, abs=1e-5)


def test_group_advantages_reject_bad_shape() -> None:
    with pytest.raises(ValueError, match="multiple of group_size"):
        gm.group_advantages(torch.zeros(5), 2)


def test_clipped_objective_hand_computed() -> None:
    # ratio = e^0.5 ~ 1.6487; A = +1 -> clipped at 1.2 is the min -> loss -1.2, clipped.
    # ratio = e^-0.5 ~ 0.6065; A = +1 -> unclipped 0.6065 is the min -> loss -0.6065, not clipped.
    lp = torch.tensor([[0.5, -0.5]])
    old = torch.zeros(1, 2)
    loss, clipped = gm.clipped_objective(lp, old, torch.tensor([1.0]), epsilon=0.2)
    assert loss.tolist()[0] == pytest.approx([-1.2, -math.exp(-0.5)])
    assert clipped.tolist() == [[True, False]]
    # Negative advantage: ratio 0.6065 -> clip(0.8) * -1 = -0.8 is the min -> loss 0.8, clipped.
    loss, clipped = gm.clipped_objective(lp, old, torch.tensor([-1.0]), epsilon=0.2)
    assert loss.tolist()[0] == pytest.approx([math.exp(0.5), 0.8])
    assert clipped.tolist() == [[False, True]]


def test_clip_higher_widens_only_the_upper_range() -> None:
    lp, old = torch.tensor([[0.5]]), torch.zeros(1, 1)
    loss, _ = gm.clipped_objective(lp, old, torch.tensor([1.0]), epsilon=0.2, epsilon_high=0.28)
    assert loss.item() == pytest.approx(-1.28)


def test_k3_kl_hand_computed_and_nonnegative() -> None:
    # delta = ref - lp = -1: e^-1 + 1 - 1 = 0.3679
    kl = gm.k3_kl(torch.tensor([[0.0, -2.0]]), torch.tensor([[-1.0, -2.0]]))
    assert kl.tolist()[0] == pytest.approx([math.exp(-1), 0.0])
    assert (gm.k3_kl(torch.randn(50, 7), torch.randn(50, 7)) >= 0).all()


def test_loss_aggregations_hand_computed() -> None:
    per_token = torch.tensor([[1.0, 2.0, 3.0], [4.0, 0.0, 0.0]])
    mask = torch.tensor([[1, 1, 1], [1, 0, 0]])
    # grpo: mean of per-sequence means = (2 + 4) / 2 = 3
    assert gm.aggregate_loss(per_token, mask, "grpo").item() == pytest.approx(3.0)
    # dapo: token mean = 10 / 4
    assert gm.aggregate_loss(per_token, mask, "dapo").item() == pytest.approx(2.5)
    # dr_grpo: sum / (N * L) = 10 / 6
    assert gm.aggregate_loss(per_token, mask, "dr_grpo").item() == pytest.approx(10 / 6)
    with pytest.raises(ValueError, match="unknown loss aggregation"):
        gm.aggregate_loss(per_token, mask, "mean")


def test_grpo_aggregation_ignores_empty_sequences() -> None:
    per_token = torch.tensor([[2.0, 2.0], [9.0, 9.0]])
    mask = torch.tensor([[1, 1], [0, 0]])
    assert gm.aggregate_loss(per_token, mask, "grpo").item() == pytest.approx(2.0)


def test_masked_mean() -> None:
    assert gm.masked_mean(torch.tensor([1.0, 3.0, 100.0]), torch.tensor([1, 1, 0])).item() == 2.0
    assert gm.masked_mean(torch.tensor([1.0]), torch.tensor([0])).item() == 0.0
