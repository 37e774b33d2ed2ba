"""A small SFT run in its own process, for the kill-and-resume test (``python resume_job.py OUT``)."""

from __future__ import annotations

import sys

import torch

from gotr1.embedded import EmbeddedConfig, new_tiny_policy, sft_examples
from gotr1.tracking import JsonlLogger
from gotr1.training.config import SFTConfig
from gotr1.training.sft import run_sft

STEPS = 16

if __name__ == "__main__":
    torch.set_num_threads(1)
    config = EmbeddedConfig.smoke()
    sft = SFTConfig.tiny(steps=STEPS, batch_size=32, checkpoint_every=4, log_every=1, warmup_steps=2)
    examples = sft_examples(config)
    policy = new_tiny_policy(config, [t for e in examples for t in (e.prompt, e.chain)])
    out = sys.argv[1]
    run_sft(sft, policy, examples, out, JsonlLogger(f"{out}/metrics.jsonl"), progress=False)
