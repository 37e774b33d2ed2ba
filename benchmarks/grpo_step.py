"""Benchmark the embedded default: rollout throughput, GRPO step time and peak memory (a table on stdout).

    python benchmarks/grpo_step.py [--steps 5] [--group-size 8] [--prompts 8]

The policy is the tiny Janus at the default size (untrained, so every chain runs to the length limit: an upper
bound on rollout cost). Figures depend on the machine and on what else runs on it.
"""

from __future__ import annotations

import argparse
import resource
import time

import torch

from gotr1.embedded import EmbeddedConfig, new_tiny_policy, rl_prompts
from gotr1.judges.verifier import VerifierJudge
from gotr1.training.grpo import run_grpo


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--group-size", type=int, default=8)
    parser.add_argument("--prompts", type=int, default=8)
    parser.add_argument("--max-chain-tokens", type=int, default=40)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    config = EmbeddedConfig.from_dict(
        {
            "rl_prompts": 256,
            "grpo": {
                "steps": args.steps,
                "group_size": args.group_size,
                "prompts_per_step": args.prompts,
                "max_chain_tokens": args.max_chain_tokens,
                "checkpoint_every": 10_000,
            },
        }
    )
    items = rl_prompts(config)
    policy = new_tiny_policy(config, [it.prompt for it in items])
    n = args.group_size * args.prompts
    params = sum(p.numel() for p in policy.model.parameters())

    policy.rollout([it.prompt for it in items[: args.prompts]], args.group_size, seed=0)  # warm-up
    t0 = time.perf_counter()
    rollout = policy.rollout([it.prompt for it in items[: args.prompts]], args.group_size, seed=1)
    t_rollout = time.perf_counter() - t0
    t0 = time.perf_counter()
    policy.logprobs(rollout).image.sum().backward()
    t_backward = time.perf_counter() - t0
    policy.model.zero_grad()

    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        result = run_grpo(
            config.grpo, policy, items, VerifierJudge(config.world.codec()), tmp, progress=False
        )
        t_steps = (time.perf_counter() - t0) / args.steps

    chain_len = float(rollout.chain_mask.sum(1).float().mean())
    rows = [
        ("policy parameters (all, incl. unused VQ/vision towers)", f"{params / 1e6:.2f} M"),
        ("rollouts per step (prompts x group)", f"{args.prompts} x {args.group_size} = {n}"),
        ("chain tokens per rollout (mean) / image tokens", f"{chain_len:.0f} / {rollout.image_ids.shape[1]}"),
        ("rollout time (KV cache, CFG)", f"{t_rollout:.2f} s"),
        ("rollout throughput", f"{n / t_rollout:.1f} samples/s"),
        ("log-prob forward + backward (one pass)", f"{t_backward:.2f} s"),
        ("GRPO step (rollout + judge + reference + update)", f"{t_steps:.2f} s"),
        ("GRPO throughput", f"{n / t_steps:.1f} samples/s"),
        ("peak resident memory", f"{peak_rss_mib():.0f} MiB"),
        (
            "final mean total reward (untrained policy)",
            f"{result.final_metrics.get('reward/total', float('nan')):.4f}",
        ),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"| {'measure'.ljust(width)} | value |\n|{'-' * (width + 2)}|-------|")
    for name, value in rows:
        print(f"| {name.ljust(width)} | {value} |")


if __name__ == "__main__":
    main()
