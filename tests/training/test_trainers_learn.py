"""The trainers move the model: SFT loss falls; a GRPO step changes the trainable parameters, raises the
log-probability of above-average rollouts and lowers that of below-average ones."""

from __future__ import annotations

from pathlib import Path

import torch

from gotr1.embedded import EmbeddedConfig, new_tiny_policy, rl_prompts, sft_examples
from gotr1.judges.verifier import VerifierJudge
from gotr1.rewards import RewardConfig
from gotr1.tracking import JsonlLogger, read_jsonl_metrics
from gotr1.training.config import GRPOConfig, SFTConfig
from gotr1.training.grpo import grpo_loss, run_grpo
from gotr1.training.sft import run_sft

CONFIG = EmbeddedConfig.smoke()


def test_sft_loss_falls(tmp_path: Path) -> None:
    examples = sft_examples(CONFIG)
    policy = new_tiny_policy(CONFIG, [t for e in examples for t in (e.prompt, e.chain)])
    config = SFTConfig.tiny(steps=30, batch_size=16, warmup_steps=3, log_every=1, checkpoint_every=1000)
    run_sft(config, policy, examples, tmp_path, JsonlLogger(tmp_path / "m.jsonl"), progress=False)
    losses = [r["sft/loss"] for r in read_jsonl_metrics(tmp_path / "m.jsonl")]
    assert sum(losses[-5:]) / 5 < 0.75 * sum(losses[:5]) / 5


def test_grpo_update_follows_the_advantages() -> None:
    items = rl_prompts(CONFIG)
    policy = new_tiny_policy(CONFIG, [it.prompt for it in items])
    rollout = policy.rollout([items[0].prompt], 4, seed=0)
    config = GRPOConfig.tiny(beta=0.0, group_size=4)
    advantages, valid = torch.tensor([1.0, -1.0, 0.0, 0.0]), torch.ones(4, dtype=torch.bool)
    before = policy.logprobs(rollout)
    optimizer = torch.optim.SGD(policy.trainable_parameters(), lr=0.5)
    loss, _ = grpo_loss(policy.logprobs(rollout), rollout.logprobs, None, rollout, advantages, valid, config)
    loss.backward()
    optimizer.step()
    after = policy.logprobs(rollout)
    total = lambda lp: lp.chain.sum(1) + lp.image.sum(1)  # noqa: E731
    delta = (total(after) - total(before)).detach()
    assert delta[0] > 0 > delta[1]


def test_grpo_run_changes_parameters_and_logs_every_step(tmp_path: Path) -> None:
    items = rl_prompts(CONFIG)
    policy = new_tiny_policy(CONFIG, [it.prompt for it in items])
    before = [p.detach().clone() for p in policy.trainable_parameters()]
    # R_PI alone: an untrained policy's chains do not parse, so the product reward would be 0 for every rollout
    # (groups without signal, no update, which is right); the image reward varies from the first step.
    config = GRPOConfig.tiny(
        steps=3,
        prompts_per_step=2,
        group_size=4,
        max_chain_tokens=24,
        checkpoint_every=1000,
        reward=RewardConfig(kind="sum", weights={"r_pi": 1.0}),
    )
    result = run_grpo(
        config,
        policy,
        items,
        VerifierJudge(CONFIG.world.codec()),
        tmp_path,
        JsonlLogger(tmp_path / "m.jsonl"),
        progress=False,
    )
    assert any(not torch.equal(b, p) for b, p in zip(before, policy.trainable_parameters(), strict=True))
    rows = read_jsonl_metrics(tmp_path / "m.jsonl")
    assert [r["step"] for r in rows] == [1, 2, 3]
    expected = {
        "reward/total",
        "reward/r_sem",
        "reward/r_spa",
        "reward/r_ri",
        "reward/r_pi",
        "reward/total_std",
        "grpo/kl",
        "grpo/clip_fraction",
        "grpo/entropy_chain",
        "grpo/entropy_image",
        "grpo/chain_length",
        "grpo/parse_failure_rate",
        "grpo/judge_failure_rate",
        "grpo/zero_signal_group_fraction",
        "grpo/step_time",
        "grpo/samples_per_s",
    }
    assert expected <= set(rows[-1])
    assert (result.policy_dir / "config.json").is_file()
