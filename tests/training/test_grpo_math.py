"""GRPO math against hand-computed values and plain Python loop references."""

from __future__ import annotations

import math

import pytest
import torch

from gotr1.training import grpo_math as gm


def loop_advantages(rewards: list[float], g: int, valid: list[bool], scale: bool, eps: float) -> list[float]:
    out = []
    for start in range(0, len(rewards), g):
        members = list(zip(rewards[start : start + g], valid[start : start + g], strict=True))
        vals = [r for r, v in members if v]
        mean = sum(vals) / len(vals) if vals else 0.0
        std = math.sqrt(sum((r - mean) ** 2 for r in vals) / len(vals)) if vals else 0.0
        for r, v in members:
            if not v or len(vals) < 2 or std == 0:
                out.append(0.0)
            else:
                out.append((r - mean) / (std + eps) if scale else r - mean)
    return out


def loop_aggregate(
    per_token: list[list[float]], weights: list[list[float]], kind: str, max_len: int
) -> float:
    if kind == "grpo":
        means = []
        for row, w in zip(per_token, weights, strict=True):
            count = sum(1 for x in w if x != 0)
            if count:
                means.append(sum(v * x for v, x in zip(row, w, strict=True)) / count)
        return sum(means) / len(means) if means else 0.0
    total = sum(v * x for row, w in zip(per_token, weights, strict=True) for v, x in zip(row, w, strict=True))
    if kind == "dr_grpo":
        return total / (len(per_token) * max_len)
    count = sum(1 for w in weights for x in w if x != 0)
    return total / max(count, 1)


def test_group_advantages_hand_computed() -> None:
    # Group [1, 0]: mean 0.5, population std 0.5 -> advantages +-1 (eps aside); group [2, 2]: no signal.
    adv, stats = gm.group_advantages(torch.tensor([1.0, 0.0, 2.0, 2.0]), 2, eps=0.0)
    assert adv.tolist() == pytest.approx([1.0, -1.0, 0.0, 0.0])
    assert (stats.groups, stats.zero_signal_groups, stats.valid) == (2, 1, 4)
    assert stats.zero_signal_fraction == 0.5
    # Without std scaling (Dr. GRPO): r - mean.
    adv, _ = gm.group_advantages(torch.tensor([3.0, 1.0, 2.0, 0.0]), 4, scale_by_std=False)
    assert adv.tolist() == pytest.approx([1.5, -0.5, 0.5, -1.5])


def test_group_advantages_exclude_invalid_members() -> None:
    # Group [1, 0, <excluded 9>]: the excluded reward changes nothing and gets 0; a group left with one valid
    # member carries no signal.
    rewards = torch.tensor([1.0, 0.0, 9.0, 5.0, 7.0, 8.0])
    valid = torch.tensor([True, True, False, True, False, False])
    adv, stats = gm.group_advantages(rewards, 3, valid, eps=0.0)
    assert adv.tolist() == pytest.approx([1.0, -1.0, 0.0, 0.0, 0.0, 0.0])
    assert (stats.zero_signal_groups, stats.valid) == (1, 3)


@pytest.mark.parametrize("scale", [True, False])
def test_group_advantages_match_loop_reference(scale: bool) -> None:
    gen = torch.Generator().manual_seed(0)
    rewards = torch.rand(24, generator=gen)
    valid = torch.rand(24, generator=gen) > 0.2
    adv, _ = gm.group_advantages(rewards, 4, valid, scale_by_std=scale, eps=1e-4)
    expected = loop_advantages(rewards.tolist(), 4, valid.tolist(), scale, 1e-4)
    assert adv.tolist() == pytest.approx(expected, abs=1e-5)


def test_group_advantages_reject_bad_shapes() -> None:
    with pytest.raises(ValueError, match="multiple of group_size"):
        gm.group_advantages(torch.zeros(5), 2)
    with pytest.raises(ValueError, match="valid must be"):
        gm.group_advantages(torch.zeros(4), 2, torch.ones(3, dtype=torch.bool))


def test_rewards_from_totals_marks_holes() -> None:
    rewards, valid = gm.rewards_from_totals([0.5, None, 2.0, math.nan])
    assert valid.tolist() == [True, False, True, True]
    assert rewards[:3].tolist() == [0.5, 0.0, 2.0] and math.isnan(rewards[3].item())


def test_clipped_objective_hand_computed() -> None:
    # ratio = e^0.5 ~ 1.6487, A = +1: the clipped 1.2 is the min -> loss -1.2, clipped.
    # ratio = e^-0.5 ~ 0.6065, A = +1: the unclipped 0.6065 is the min -> loss -0.6065, not clipped.
    lp = torch.tensor([[0.5, -0.5]])
    old = torch.zeros(1, 2)
    loss, clipped = gm.clipped_objective(lp, old, torch.tensor([1.0]), epsilon=0.2)
    assert loss.tolist()[0] == pytest.approx([-1.2, -math.exp(-0.5)])
    assert clipped.tolist() == [[True, False]]
    # Negative advantage: ratio 0.6065 -> clip(0.8) * -1 = -0.8 is the min -> loss 0.8, clipped.
    loss, clipped = gm.clipped_objective(lp, old, torch.tensor([-1.0]), epsilon=0.2)
    assert loss.tolist()[0] == pytest.approx([math.exp(0.5), 0.8])
    assert clipped.tolist() == [[False, True]]


def test_clipped_objective_matches_loop_and_has_the_policy_gradient_at_ratio_one() -> None:
    gen = torch.Generator().manual_seed(1)
    lp, old, adv = (
        torch.randn(6, 5, generator=gen) * 0.3,
        torch.randn(6, 5, generator=gen) * 0.3,
        torch.randn(6),
    )
    loss, _ = gm.clipped_objective(lp, old, adv, epsilon=0.2, epsilon_high=0.3)
    for i in range(6):
        for t in range(5):
            rho = math.exp(lp[i, t].item() - old[i, t].item())
            a = adv[i].item()
            expected = -min(rho * a, min(max(rho, 0.8), 1.3) * a)
            assert loss[i, t].item() == pytest.approx(expected, rel=1e-5, abs=1e-6)
    # On-policy (ratio 1) the gradient is -A * grad log p, the REINFORCE direction.
    x = torch.zeros(2, 3, requires_grad=True)
    loss, _ = gm.clipped_objective(x, x.detach(), torch.tensor([2.0, -1.0]), epsilon=0.2)
    loss.sum().backward()
    assert x.grad is not None
    assert x.grad.tolist() == [[-2.0] * 3, [1.0] * 3]


def test_span_advantages_hand_computed() -> None:
    total, plan = torch.tensor([1.0, -1.0]), torch.tensor([0.5, 2.0])
    # Lc = 2 chain tokens, Li = 3 image tokens: the image always takes the total's advantage.
    assert gm.span_advantages(total, plan, 2, 3, "total").tolist() == [[1.0] * 5, [-1.0] * 5]
    assert gm.span_advantages(total, plan, 2, 3, "plan").tolist() == [
        [0.5, 0.5, 1.0, 1.0, 1.0],
        [2.0, 2.0, -1.0, -1.0, -1.0],
    ]
    assert gm.span_advantages(total, plan, 2, 3, "total+plan").tolist() == [
        [1.5, 1.5, 1.0, 1.0, 1.0],
        [1.0, 1.0, -1.0, -1.0, -1.0],
    ]
    assert gm.span_advantages(total, plan, 2, 0, "plan").tolist() == [[0.5, 0.5], [2.0, 2.0]]
    with pytest.raises(ValueError, match="chain advantage must be one of"):
        gm.span_advantages(total, plan, 2, 3, "image")


def test_per_token_advantages_give_the_same_loss_as_per_rollout_ones_when_equal() -> None:
    gen = torch.Generator().manual_seed(2)
    lp, old, adv = torch.randn(4, 6, generator=gen), torch.randn(4, 6, generator=gen), torch.randn(4)
    per_rollout, clipped = gm.clipped_objective(lp, old, adv, epsilon=0.2)
    per_token, clipped_t = gm.clipped_objective(lp, old, adv[:, None].expand(4, 6), epsilon=0.2)
    assert torch.equal(per_rollout, per_token) and torch.equal(clipped, clipped_t)
    # and each token follows its own advantage
    token_adv = torch.randn(4, 6, generator=gen)
    loss, _ = gm.clipped_objective(lp, old, token_adv, epsilon=0.2)
    for i in range(4):
        for t in range(6):
            one, _ = gm.clipped_objective(
                lp[i : i + 1, t : t + 1], old[i : i + 1, t : t + 1], token_adv[i, t : t + 1], 0.2
            )
            assert loss[i, t].item() == pytest.approx(one.item())


def test_clip_higher_widens_only_the_upper_range() -> None:
    lp, old = torch.tensor([[0.5, -0.5]]), torch.zeros(1, 2)
    loss, _ = gm.clipped_objective(lp, old, torch.tensor([1.0]), epsilon=0.2, epsilon_high=0.28)
    assert loss[0, 0].item() == pytest.approx(-1.28)
    loss, _ = gm.clipped_objective(lp, old, torch.tensor([-1.0]), epsilon=0.2, epsilon_high=0.28)
    assert loss[0, 1].item() == pytest.approx(0.8)


def test_k3_kl_hand_computed_nonnegative_and_zero_at_the_reference() -> None:
    # delta = ref - lp = -1: e^-1 + 1 - 1 = 0.3679
    kl = gm.k3_kl(torch.tensor([[0.0, -2.0]]), torch.tensor([[-1.0, -2.0]]))
    assert kl.tolist()[0] == pytest.approx([math.exp(-1), 0.0])
    assert (gm.k3_kl(torch.randn(50, 7), torch.randn(50, 7)) >= 0).all()


def test_k3_kl_is_an_unbiased_estimate_of_the_kl() -> None:
    # Tokens drawn from p: the mean of k3 approaches KL(p || q).
    p = torch.tensor([0.6, 0.3, 0.1])
    q = torch.tensor([0.2, 0.5, 0.3])
    draws = torch.multinomial(p, 200_000, replacement=True, generator=torch.Generator().manual_seed(0))
    estimate = gm.k3_kl(p.log()[draws][None], q.log()[draws][None]).mean().item()
    exact = sum(pi * math.log(pi / qi) for pi, qi in zip(p.tolist(), q.tolist(), strict=True))
    assert estimate == pytest.approx(exact, rel=0.02)


def test_span_weights_hand_computed() -> None:
    chain_mask = torch.tensor([[0, 1, 1], [1, 1, 0]])
    w = gm.span_weights(chain_mask, 2, chain_weight=0.5, image_weight=2.0)
    assert w.tolist() == [[0.0, 0.5, 0.5, 2.0, 2.0], [0.5, 0.5, 0.0, 2.0, 2.0]]


def test_loss_aggregations_hand_computed() -> None:
    per_token = torch.tensor([[1.0, 2.0, 3.0], [4.0, 0.0, 0.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0], [1.0, 0.0, 0.0]])
    # grpo: mean of per-sequence means = (2 + 4) / 2 = 3
    assert gm.aggregate_loss(per_token, mask, "grpo").item() == pytest.approx(3.0)
    # dapo: token mean = 10 / 4
    assert gm.aggregate_loss(per_token, mask, "dapo").item() == pytest.approx(2.5)
    # dr_grpo: sum / (N * L) = 10 / 6, or with a constant max length 5: 10 / 10
    assert gm.aggregate_loss(per_token, mask, "dr_grpo").item() == pytest.approx(10 / 6)
    assert gm.aggregate_loss(per_token, mask, "dr_grpo", max_length=5).item() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="unknown loss aggregation"):
        gm.aggregate_loss(per_token, mask, "mean")
    with pytest.raises(ValueError, match="same"):
        gm.aggregate_loss(per_token, mask[:, :2], "grpo")


@pytest.mark.parametrize("kind", gm.LOSS_AGGREGATIONS)
def test_loss_aggregations_match_loop_reference_with_span_weights(kind: str) -> None:
    gen = torch.Generator().manual_seed(2)
    per_token = torch.randn(6, 7, generator=gen)
    chain_mask = (torch.rand(6, 4, generator=gen) > 0.3).long()
    chain_mask[2] = 0  # a sequence without chain tokens still has image tokens
    weights = gm.span_weights(chain_mask, 3, chain_weight=0.5, image_weight=1.5)
    weights[4] = 0.0  # an excluded rollout
    got = gm.aggregate_loss(per_token, weights, kind, max_length=9).item()
    assert got == pytest.approx(loop_aggregate(per_token.tolist(), weights.tolist(), kind, 9), rel=1e-5)


@pytest.mark.parametrize("kind", gm.LOSS_AGGREGATIONS)
def test_micro_batches_add_up_to_the_whole_batch(kind: str) -> None:
    gen = torch.Generator().manual_seed(3)
    per_token = torch.randn(8, 5, generator=gen)
    weights = (torch.rand(8, 5, generator=gen) > 0.4).float()
    weights[1] = 0.0
    whole = gm.aggregate_loss(per_token, weights, kind, max_length=6)
    n_seq = int((weights.sum(1) > 0).sum()) if kind == "grpo" else 8
    n_tok = float((weights != 0).sum())
    parts = sum(
        gm.aggregate_loss(
            per_token[i : i + 3], weights[i : i + 3], kind, 6, num_sequences=n_seq, num_tokens=n_tok
        )
        for i in range(0, 8, 3)
    )
    assert float(parts) == pytest.approx(whole.item(), rel=1e-6)


def test_grpo_aggregation_ignores_empty_sequences() -> None:
    per_token = torch.tensor([[2.0, 2.0], [9.0, 9.0]])
    mask = torch.tensor([[1.0, 1.0], [0.0, 0.0]])
    assert gm.aggregate_loss(per_token, mask, "grpo").item() == pytest.approx(2.0)


def test_masked_mean() -> None:
    assert gm.masked_mean(torch.tensor([1.0, 3.0, 100.0]), torch.tensor([1, 1, 0])).item() == 2.0
    assert gm.masked_mean(torch.tensor([1.0]), torch.tensor([0])).item() == 0.0


def test_entropies_hand_computed() -> None:
    # Uniform over 4: ln 4; a one-hot: 0.
    logits = torch.tensor([[0.0, 0.0, 0.0, 0.0], [100.0, 0.0, 0.0, 0.0]])
    assert gm.entropy_from_logits(logits).tolist() == pytest.approx([math.log(4), 0.0], abs=1e-6)
    # Sampled entropy: mean -log p over the masked tokens.
    lp = torch.tensor([[-1.0, -3.0], [-2.0, -50.0]])
    assert gm.sampled_entropy(lp, torch.tensor([[1, 1], [1, 0]])).item() == pytest.approx(2.0)


def test_sampled_entropy_estimates_the_exact_entropy() -> None:
    logits = torch.tensor([1.0, 0.0, -1.0, 2.0])
    draws = torch.multinomial(logits.softmax(-1), 100_000, True, generator=torch.Generator().manual_seed(0))
    lp = torch.log_softmax(logits, -1)[draws][None]
    estimate = gm.sampled_entropy(lp, torch.ones_like(lp)).item()
    assert estimate == pytest.approx(gm.entropy_from_logits(logits).item(), rel=0.01)
