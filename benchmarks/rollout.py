"""Benchmark the tiny policy's rollout: throughput with and without a KV cache, and peak memory (tables on stdout).

    python benchmarks/rollout.py [--prompts 8] [--group-size 8] [--chain-tokens 40] [--repeats 3]

Default: the embedded default's size (hidden 128, 4 layers, 8 x 8 grid of the default world), 8 prompts x group
8 = 64 rollouts, chains of ``--chain-tokens`` tokens (the policy is untrained, so every chain runs to the
limit), then 64 image tokens with CFG 5 (so 128 rows in the image phase); the median of ``--repeats`` rollouts (one without a cache). Each configuration runs in a fresh
subprocess so that its peak resident memory (``ru_maxrss``) is its own; "model RSS" is the resident size after
building the policy, before any rollout. A second table times the teacher-forced log-prob pass that training
uses (forward + backward over the same 64 rollouts) in fp32 and under bf16 autocast.
torch runs on 2 threads (``--threads``); figures depend on the machine and on what else runs on it.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import replace
from typing import Any

import torch

from gotr1.models.janus import GenerationSettings, JanusPolicy, TinyJanusConfig
from gotr1.models.tokenizer import build_tokenizer
from gotr1.synthetic.world import WorldConfig, sample_dataset

CONFIGS = {
    "static KV cache": {"use_cache": True, "cache_implementation": "static"},
    "dynamic KV cache": {"use_cache": True, "cache_implementation": "dynamic"},
    "no cache": {"use_cache": False},
}


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def build(args: argparse.Namespace) -> tuple[JanusPolicy, list[str]]:
    world = WorldConfig()
    samples = sample_dataset(world, 512, seed=0)
    tokenizer = build_tokenizer([s.prompt for s in samples] + [s.chain_text for s in samples])
    generation = GenerationSettings(max_chain_tokens=args.chain_tokens, cfg_scale=args.cfg)
    policy = JanusPolicy.tiny(tokenizer, world.codec(), TinyJanusConfig(), generation)
    return policy, [s.prompt for s in samples[: args.prompts]]


def measure_rollout(args: argparse.Namespace, name: str) -> dict[str, Any]:
    """One configuration, in this process: median rollout time over ``--repeats`` (1 without a cache)."""
    policy, prompts = build(args)
    policy.generation = replace(policy.generation, **CONFIGS[name])
    model_rss = peak_rss_mib()
    policy.rollout(prompts[:1], 1, seed=0)  # warm-up
    repeats = 1 if name == "no cache" else args.repeats  # minutes a run without a cache
    times, chain_tokens = [], 0.0
    for repeat in range(repeats):
        t0 = time.perf_counter()
        rollout = policy.rollout(prompts, args.group_size, seed=repeat + 1)
        times.append(time.perf_counter() - t0)
        chain_tokens = float(rollout.chain_attention.sum(1).float().mean())
    return {
        "seconds": statistics.median(times),
        "chain_tokens": chain_tokens,
        "image_tokens": policy.codec.num_tokens,
        "model_rss": model_rss,
        "peak_rss": peak_rss_mib(),
    }


def measure_training(args: argparse.Namespace) -> list[tuple[str, float]]:
    """Forward + backward of ``logprobs`` over one rollout, fp32 and bf16 autocast (median of ``--repeats``)."""
    policy, prompts = build(args)
    rollout = policy.rollout(prompts, args.group_size, seed=0)
    policy.model.train()
    rows = []
    for label, dtype in (("fp32", None), ("bf16 autocast", torch.bfloat16)):
        policy.autocast_dtype = dtype
        times = []
        for _ in range(args.repeats + 1):
            t0 = time.perf_counter()
            lp = policy.logprobs(rollout)
            (lp.chain.sum() + lp.image.sum()).backward()
            times.append(time.perf_counter() - t0)
            policy.model.zero_grad(set_to_none=True)
        rows.append((label, statistics.median(times[1:])))
    return rows


def table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |"
    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    body = ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in rows]
    return "\n".join([line, rule, *body])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--prompts", type=int, default=8)
    parser.add_argument("--group-size", type=int, default=8)
    parser.add_argument("--chain-tokens", type=int, default=40)
    parser.add_argument("--cfg", type=float, default=5.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--only", choices=[*CONFIGS, "training"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    if args.only == "training":
        print(json.dumps(measure_training(args)))
        return
    if args.only:
        print(json.dumps(measure_rollout(args, args.only)))
        return

    def child(name: str) -> Any:
        argv = [a for a in sys.argv[1:] if not a.startswith("--only")]
        out = subprocess.run(
            [sys.executable, __file__, *argv, "--only", name], check=True, capture_output=True, text=True
        )
        return json.loads(out.stdout.strip().splitlines()[-1])

    n = args.prompts * args.group_size
    results = {name: child(name) for name in CONFIGS}
    slowest = results["no cache"]["seconds"]
    first = next(iter(results.values()))
    print(
        f"rollout: {args.prompts} prompts x group {args.group_size} = {n} samples, "
        f"{first['chain_tokens']:.0f} chain tokens + {first['image_tokens']} image tokens each, "
        f"CFG {args.cfg}, {args.threads} threads, median of {args.repeats}\n"
    )
    rows = [
        [
            name,
            f"{r['seconds']:.2f}",
            f"{n / r['seconds']:.1f}",
            f"{slowest / r['seconds']:.1f}x",
            f"{r['model_rss']:.0f}",
            f"{r['peak_rss']:.0f}",
        ]
        for name, r in results.items()
    ]
    print(table(["decoding", "rollout s", "samples/s", "vs no cache", "model RSS MiB", "peak RSS MiB"], rows))
    training = child("training")
    print(f"\nteacher-forced log-probs, forward + backward over the {n} rollouts:\n")
    print(table(["precision", "seconds"], [[label, f"{s:.3f}"] for label, s in training]))


if __name__ == "__main__":
    main()
