"""Does GRPO learn? SFT warm-up, then GRPO from that checkpoint, on the embedded default, for several seeds.

For each seed: train SFT, evaluate it on held-out scenes, train GRPO from it, evaluate again. Prints a markdown
table (SFT vs GRPO per seed and metric) and writes ``results.json`` to the output folder.

    python scripts/learning_evidence.py --output outputs/learning --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import replace
from pathlib import Path

import torch

from gotr1.embedded import EmbeddedConfig, eval_specs, new_tiny_policy, rl_prompts, sft_examples
from gotr1.evaluation.rollouts import HEADLINE_METRICS, evaluate_policy
from gotr1.judges.verifier import VerifierJudge
from gotr1.models.janus import JanusPolicy
from gotr1.tracking import JsonlLogger
from gotr1.training.grpo import run_grpo
from gotr1.training.sft import run_sft

METRICS = HEADLINE_METRICS


def run_seed(config: EmbeddedConfig, out: Path, samples_per_prompt: int) -> dict[str, object]:
    judge = VerifierJudge(config.world.codec())
    examples = sft_examples(config)
    policy = new_tiny_policy(config, [t for e in examples for t in (e.prompt, e.chain)])
    held_out = eval_specs(config)

    t0 = time.perf_counter()
    sft = run_sft(config.sft, policy, examples, out / "sft", JsonlLogger(out / "sft" / "metrics.jsonl"))
    t_sft = time.perf_counter() - t0
    sft_policy = JanusPolicy.from_pretrained(sft.policy_dir)
    sft_policy.generation = replace(sft_policy.generation, cfg_scale=config.grpo.cfg_scale)
    before = evaluate_policy(sft_policy, held_out, judge, samples_per_prompt, seed=config.seed + 17).metrics

    t1 = time.perf_counter()
    grpo = run_grpo(
        config.grpo,
        sft_policy,
        rl_prompts(config),
        judge,
        out / "grpo",
        JsonlLogger(out / "grpo" / "metrics.jsonl"),
    )
    t_grpo = time.perf_counter() - t1
    after = evaluate_policy(sft_policy, held_out, judge, samples_per_prompt, seed=config.seed + 17).metrics
    return {
        "seed": config.seed,
        "sft": before,
        "grpo": after,
        "sft_seconds": t_sft,
        "grpo_seconds": t_grpo,
        "grpo_policy": str(grpo.policy_dir),
        "sft_policy": str(sft.policy_dir),
    }


def table(results: list[dict[str, object]]) -> str:
    lines = ["| seed | metric | SFT | GRPO | change |", "|---|---|---|---|---|"]
    for r in results:
        for m in METRICS:
            a, b = r["sft"][m], r["grpo"][m]  # type: ignore[index]
            rel = f"{(b - a) / a:+.0%}" if a else "n/a"
            lines.append(f"| {r['seed']} | {m} | {a:.3f} | {b:.3f} | {rel} |")
        lines.append(
            f"| {r['seed']} | minutes (SFT + GRPO) | {r['sft_seconds'] / 60:.1f} | {r['grpo_seconds'] / 60:.1f} | |"
        )
    for m in METRICS:
        a = statistics.mean(r["sft"][m] for r in results)  # type: ignore[index]
        b = statistics.mean(r["grpo"][m] for r in results)  # type: ignore[index]
        lines.append(f"| mean | {m} | {a:.3f} | {b:.3f} | {f'{(b - a) / a:+.0%}' if a else 'n/a'} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--samples-per-prompt", type=int, default=2)
    parser.add_argument(
        "--config", type=Path, help="YAML/JSON overrides of EmbeddedConfig (sections world, sft, grpo)"
    )
    args = parser.parse_args()
    torch.set_num_threads(2)
    overrides = {}
    if args.config:
        import yaml

        overrides = yaml.safe_load(args.config.read_text()) or {}
    results = []
    for seed in args.seeds:
        config = EmbeddedConfig.from_dict({**overrides, "seed": seed})
        results.append(run_seed(config, args.output / f"seed-{seed}", args.samples_per_prompt))
        (args.output / "results.json").write_text(json.dumps(results, indent=2))
    print(table(results))


if __name__ == "__main__":
    main()
