"""Does it learn? SFT loss falls; GRPO raises a verifier reward within a few steps and moves the parameters; a
single GRPO update follows the advantages; every metric is logged every step."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from gotr1.embedded import EmbeddedConfig, new_tiny_policy, rl_prompts, sft_examples
from gotr1.judges.base import JudgeRequest, Verdict
from gotr1.judges.verifier import VerifierJudge
from gotr1.rewards import RewardConfig, combine
from gotr1.synthetic.detect import detect
from gotr1.tracking import JsonlLogger, read_jsonl_metrics
from gotr1.training.config import GRPOConfig, SFTConfig
from gotr1.training.grpo import grpo_loss, judge_rollout, run_grpo
from gotr1.training.sft import run_sft

CONFIG = EmbeddedConfig.smoke()
IMAGE_REWARD = RewardConfig(kind="sum", weights={"r_pi": 1.0})


class CanvasJudge:
    """A simple reward from the world's exact detector: the fraction of the canvas no detected object covers
    (as ``r_pi``). An untrained policy paints most cells (about 0.15); 20 GRPO steps (2 s) must raise it."""

    name = "canvas"

    def __init__(self) -> None:
        self.codec = CONFIG.world.codec()

    def judge(self, requests: list[JudgeRequest]) -> list[Verdict]:
        cells = self.codec.grid_size**2
        return [
            Verdict(None, None, None, 1.0 - sum(d.cells for d in detect(r.image, self.codec)) / cells)
            for r in requests
        ]


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def test_sft_loss_falls(tmp_path: Path) -> None:
    examples = sft_examples(CONFIG)
    policy = new_tiny_policy(CONFIG, [t for e in examples for t in (e.prompt, e.chain)])
    config = SFTConfig.tiny(steps=30, batch_size=16, warmup_steps=3, log_every=1, checkpoint_every=1000)
    result = run_sft(config, policy, examples, tmp_path, JsonlLogger(tmp_path / "m.jsonl"), progress=False)
    rows = read_jsonl_metrics(tmp_path / "m.jsonl")
    assert [r["step"] for r in rows] == list(range(1, 31))
    for key in ("sft/loss", "sft/chain_loss", "sft/image_loss"):
        losses = [r[key] for r in rows]
        assert np.mean(losses[-5:]) < 0.75 * np.mean(losses[:5]), key
    assert (result.policy_dir / "model.safetensors").is_file()


def test_grpo_update_follows_the_advantages() -> None:
    items = rl_prompts(CONFIG)
    policy = new_tiny_policy(CONFIG, [it.prompt for it in items])
    rollout = policy.rollout([items[0].prompt], 4, seed=0)
    config = GRPOConfig.tiny(beta=0.0, group_size=4)
    advantages, valid = torch.tensor([1.0, -1.0, 0.0, 0.0]), torch.ones(4, dtype=torch.bool)
    before = policy.logprobs(rollout)
    optimizer = torch.optim.SGD(policy.trainable_parameters(), lr=0.5)
    loss, _ = grpo_loss(
        policy.logprobs(rollout), rollout.logprobs, None, rollout.chain_mask, advantages, valid, config
    )
    loss.backward()
    optimizer.step()
    after = policy.logprobs(rollout)

    def total(lp):
        return (lp.chain.sum(1) + lp.image.sum(1)).detach()

    delta = total(after) - total(before)
    assert delta[0] > 0 > delta[1]


def _mean_reward(policy, items, judge, seed: int) -> float:
    rollout = policy.rollout([it.prompt for it in items], 8, seed=seed)
    verdicts, _ = judge_rollout(rollout, items, judge)
    totals = combine(verdicts, IMAGE_REWARD).totals
    return float(np.mean([t for t in totals if t is not None]))


def test_grpo_raises_a_detector_reward_within_a_few_steps(tmp_path: Path) -> None:
    items = rl_prompts(CONFIG)
    judge = CanvasJudge()
    policy = new_tiny_policy(CONFIG, [it.prompt for it in items])
    # What generation uses: the transformer, the image head and embeddings (not the understanding tower).
    used = ("language_model", "generation_head", "generation_embeddings", "generation_aligner")
    before_params = {
        n: p.detach().clone() for n, p in policy.model.named_parameters() if any(u in n for u in used)
    }
    config = GRPOConfig.tiny(
        steps=20,
        prompts_per_step=4,
        group_size=8,
        learning_rate=1e-2,
        beta=0.01,
        cfg_scale=1.0,
        max_chain_tokens=8,
        checkpoint_every=1000,
        reward=IMAGE_REWARD,
    )
    before = _mean_reward(policy, items, judge, seed=99)
    run_grpo(config, policy, items, judge, tmp_path, JsonlLogger(tmp_path / "m.jsonl"), progress=False)
    after = _mean_reward(policy, items, judge, seed=99)
    assert after > before + 0.3, (before, after)
    params = dict(policy.model.named_parameters())
    unmoved = [n for n, b in before_params.items() if torch.equal(b, params[n])]
    assert len(before_params) > 20 and not unmoved, unmoved
    curve = [r["reward/total"] for r in read_jsonl_metrics(tmp_path / "m.jsonl")]
    assert np.mean(curve[-3:]) > np.mean(curve[:3])


def test_grpo_logs_every_metric_every_step_with_lora_and_micro_batches(tmp_path: Path) -> None:
    items = rl_prompts(CONFIG)
    policy = new_tiny_policy(CONFIG, [it.prompt for it in items])
    config = GRPOConfig.tiny(
        steps=2,
        prompts_per_step=2,
        group_size=4,
        micro_batch_size=4,
        inner_iterations=2,
        lora_rank=4,
        lora_alpha=8,
        learning_rate=1e-2,
        max_chain_tokens=16,
        checkpoint_every=1000,
        reward=IMAGE_REWARD,
    )
    frozen = {n: p.detach().clone() for n, p in policy.model.named_parameters()}
    result = run_grpo(
        config,
        policy,
        items,
        VerifierJudge(CONFIG.world.codec()),
        tmp_path,
        JsonlLogger(tmp_path / "m.jsonl"),
        progress=False,
    )
    rows = read_jsonl_metrics(tmp_path / "m.jsonl")
    assert [r["step"] for r in rows] == [1, 2]
    expected = {
        *(f"reward/{k}" for k in ("total", "total_std", "r_sem", "r_spa", "r_ri", "r_pi")),
        *(f"grpo/{k}" for k in ("kl", "clip_fraction", "entropy_chain", "entropy_image", "chain_length")),
        *(f"grpo/{k}" for k in ("image_length", "parse_failure_rate", "judge_failure_rate")),
        *(f"grpo/{k}" for k in ("zero_signal_group_fraction", "step_time", "samples_per_s", "grad_norm")),
    }
    assert expected <= set(rows[-1])
    # With LoRA only the adapters train: the base weights are the reference and stay as they were.
    for name, p in policy.model.named_parameters():
        if "lora_" not in name:
            assert torch.equal(frozen[name.replace(".base_layer", "")], p), name
    assert (result.policy_dir / "adapter").is_dir()


class ScriptedJudge:
    """Scores that differ between the plan stage and the total, whatever the chains say: request ``i`` gets
    ``R_sem = (7i mod 5) / 4``, ``R_spa = (3i mod 4) / 3``, ``R_RI = 0.5``, ``R_PI = i mod 2``."""

    name = "scripted"

    def __init__(self) -> None:
        self.verdicts: list[Verdict] = []

    def judge(self, requests: list[JudgeRequest]) -> list[Verdict]:
        start = len(self.verdicts)
        self.verdicts += [
            Verdict((7 * i % 5) / 4, (3 * i % 4) / 3, 0.5, float(i % 2))
            for i in range(start, start + len(requests))
        ]
        return self.verdicts[start:]


@pytest.mark.parametrize("chain_advantage", ["total", "plan", "total+plan"])
def test_chain_tokens_take_the_configured_stage_advantage(
    chain_advantage: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gotr1.training.grpo as grpo_module
    from gotr1.training import grpo_math

    seen: list[torch.Tensor] = []

    def spy(*args: object, **kwargs: object) -> object:
        seen.append(args[4])  # type: ignore[arg-type]
        return grpo_loss(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(grpo_module, "grpo_loss", spy)
    items = rl_prompts(CONFIG)
    policy = new_tiny_policy(CONFIG, [it.prompt for it in items])
    group, total_reward = 4, RewardConfig(kind="sum", weights={"r_sem": 1.0, "r_spa": 1.0, "r_pi": 1.0})
    config = GRPOConfig.tiny(
        steps=1,
        prompts_per_step=2,
        group_size=group,
        max_chain_tokens=16,
        chain_advantage=chain_advantage,
        reward=total_reward,
    )
    judge = ScriptedJudge()
    run_grpo(config, policy, items, judge, tmp_path, progress=False)

    [advantages] = seen
    total, valid = grpo_math.rewards_from_totals(combine(judge.verdicts, total_reward).totals)
    total_adv, _ = grpo_math.group_advantages(total, group, valid)
    plan = torch.tensor([v.r_sem + v.r_spa for v in judge.verdicts])  # type: ignore[operator]
    plan_adv, _ = grpo_math.group_advantages(plan, group, valid)
    assert total_adv.abs().min() > 0 and not torch.allclose(total_adv, plan_adv)  # the modes differ here
    chain_expected = {"total": total_adv, "plan": plan_adv, "total+plan": total_adv + plan_adv}[
        chain_advantage
    ]
    li = CONFIG.world.codec().num_tokens
    assert torch.allclose(advantages[:, :-li], chain_expected[:, None].expand(-1, advantages.shape[1] - li))
    assert torch.allclose(advantages[:, -li:], total_adv[:, None].expand(-1, li))
