"""A small training run in its own process, for the kill-and-resume test: ``python resume_job.py sft|grpo OUT``."""

from __future__ import annotations

import sys

import torch

from gotr1.embedded import EmbeddedConfig, new_tiny_policy, rl_prompts, sft_examples
from gotr1.judges.verifier import VerifierJudge
from gotr1.rewards import RewardConfig
from gotr1.tracking import JsonlLogger
from gotr1.training.config import GRPOConfig, SFTConfig
from gotr1.training.grpo import run_grpo
from gotr1.training.sft import run_sft

STEPS = 16


def run(kind: str, out: str) -> None:
    config = EmbeddedConfig.smoke()
    logger = JsonlLogger(f"{out}/metrics.jsonl")
    if kind == "sft":
        sft = SFTConfig.tiny(steps=STEPS, batch_size=32, checkpoint_every=4, log_every=1, warmup_steps=2)
        examples = sft_examples(config)
        policy = new_tiny_policy(config, [t for e in examples for t in (e.prompt, e.chain)])
        run_sft(sft, policy, examples, out, logger, progress=False)
    else:
        grpo = GRPOConfig.tiny(
            steps=STEPS,
            prompts_per_step=2,
            group_size=4,
            max_chain_tokens=8,
            cfg_scale=1.0,
            checkpoint_every=4,
            reward=RewardConfig(kind="sum", weights={"r_pi": 1.0}),
        )
        items = rl_prompts(config)
        policy = new_tiny_policy(config, [it.prompt for it in items])
        run_grpo(grpo, policy, items, VerifierJudge(config.world.codec()), out, logger, progress=False)


if __name__ == "__main__":
    torch.set_num_threads(1)
    run(sys.argv[1], sys.argv[2])
