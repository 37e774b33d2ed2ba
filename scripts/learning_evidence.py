"""Does GRPO learn? SFT warm-up, then GRPO from that checkpoint, on the embedded default, for several seeds.

For each seed: train SFT on the synthetic world, evaluate it on held-out scenes, train GRPO from it with the
verifier judge, evaluate again with the same sampling settings (the rollout's temperatures and CFG) and the
same evaluation seed. The training data are curated as the pipelines' data stage curates them
(:func:`gotr1.embedded.curated_data`): no SFT record or RL prompt has a held-out prompt. Metrics on the
held-out scenes (``--samples-per-prompt`` samples each):

- ``reward/total``: the configured combination (default GoT-R1's ``R_PI * (R_sem + R_spa) * R_RI``, in [0, 2]);
- ``reward/r_sem``, ``reward/r_spa``, ``reward/r_ri``, ``reward/r_pi``: the verifier's components;
- ``plan_accuracy``: fraction of plans GenEval counts correct (objects, counts, colours read from the phrases,
  positions from the boxes: :mod:`gotr1.evaluation.geneval`);
- ``image_accuracy``: fraction of images GenEval counts correct (the world's exact detector);
- ``parse_failure_rate``: fraction of chains that do not parse.

Prints a markdown table (SFT vs GRPO per seed and metric, the mean over seeds, minutes per stage, and the
machine's load so contention is visible) and writes ``results.json`` and ``table.md`` to ``--output``.

    python scripts/learning_evidence.py --output outputs/learning --seeds 0 1 2
    python scripts/learning_evidence.py --output outputs/learning --seeds 0 1 2 --jobs 2 --threads 1  # 2 at once
    python scripts/learning_evidence.py --output outputs/cfg --seeds 0 --cfg-sweep 1 2 3 5 --skip-grpo
    python scripts/learning_evidence.py --output outputs/beta --reuse-sft outputs/learning --config beta.yaml

``--config`` may name the policy (``policy: {kind: planner}``: the planner + world painter family).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from gotr1.backends import PolicySpec, initial_policy, load_trained_policy
from gotr1.embedded import EmbeddedConfig, curated_data, eval_specs
from gotr1.evaluation.rollouts import HEADLINE_METRICS, evaluate_policy
from gotr1.judges.verifier import VerifierJudge
from gotr1.models.janus import JanusPolicy
from gotr1.models.planner import PlannerPolicy
from gotr1.rewards import RewardConfig
from gotr1.scenes.spec import SceneSpec
from gotr1.tracking import JsonlLogger
from gotr1.training.grpo import run_grpo
from gotr1.training.sft import run_sft

METRICS = (*HEADLINE_METRICS, "parse_failure_rate")


def evaluate(
    policy: JanusPolicy | PlannerPolicy,
    specs: list[SceneSpec],
    judge: VerifierJudge,
    samples_per_prompt: int,
    seed: int,
    reward: RewardConfig,
) -> dict[str, float]:
    """Held-out metrics (module docstring) of ``policy`` with its current generation settings."""
    metrics = evaluate_policy(policy, specs, judge, samples_per_prompt, seed, reward).metrics
    return {m: metrics[m] for m in METRICS}


def with_cfg(policy: Any, cfg_scale: float) -> Any:
    policy.generation = replace(policy.generation, cfg_scale=cfg_scale)
    return policy


def run_seed(config: EmbeddedConfig, out: Path, args: argparse.Namespace) -> dict[str, Any]:
    judge = VerifierJudge(config.world.codec())
    spec = PolicySpec.from_dict(args.policy)
    held_out = eval_specs(config)
    examples, prompts = curated_data(config)  # as the pipelines curate: no held-out prompt is trained on
    reward = config.grpo.reward
    result: dict[str, Any] = {"seed": config.seed, "policy": spec.kind, "load_before": os.getloadavg()[0]}

    t0, c0 = time.perf_counter(), time.process_time()
    reused = args.reuse_sft / f"seed-{config.seed}" / "sft" / "policy" if args.reuse_sft else None
    if reused is not None and reused.is_dir():
        sft_dir, result["sft_reused"] = reused, str(reused)
    else:
        policy = initial_policy(spec, config, [t for e in examples for t in (e.prompt, e.chain)])
        logger = JsonlLogger(out / "sft" / "metrics.jsonl")
        sft_dir = run_sft(config.sft, policy, examples, out / "sft", logger, progress=False).policy_dir
    result["sft_seconds"], result["sft_cpu_seconds"] = time.perf_counter() - t0, time.process_time() - c0
    sft_policy = with_cfg(load_trained_policy(sft_dir), config.grpo.cfg_scale)
    sft_policy.generation = replace(
        sft_policy.generation,
        text_temperature=config.grpo.text_temperature,
        image_temperature=config.grpo.image_temperature,
        max_chain_tokens=config.grpo.max_chain_tokens,
    )
    t1 = time.perf_counter()
    result["sft"] = evaluate(sft_policy, held_out, judge, args.samples_per_prompt, args.eval_seed, reward)
    result["eval_seconds"] = time.perf_counter() - t1
    if args.cfg_sweep:
        result["cfg_sweep"] = {
            str(w): evaluate(
                with_cfg(sft_policy, w), held_out, judge, args.samples_per_prompt, args.eval_seed, reward
            )
            for w in args.cfg_sweep
        }
        with_cfg(sft_policy, config.grpo.cfg_scale)
    if args.skip_grpo:
        return result

    t2, c2 = time.perf_counter(), time.process_time()
    grpo = run_grpo(
        config.grpo,
        sft_policy,
        prompts,
        judge,
        out / "grpo",
        JsonlLogger(out / "grpo" / "metrics.jsonl"),
        progress=False,
    )
    result["grpo_seconds"], result["grpo_cpu_seconds"] = time.perf_counter() - t2, time.process_time() - c2
    result["grpo"] = evaluate(sft_policy, held_out, judge, args.samples_per_prompt, args.eval_seed, reward)
    result["load_after"] = os.getloadavg()[0]
    result["policies"] = {"sft": str(sft_dir), "grpo": str(grpo.policy_dir)}
    return result


def _run_seed_job(job: tuple[EmbeddedConfig, argparse.Namespace]) -> dict[str, Any]:
    """One seed in a worker process (its own torch threads and its own peak memory)."""
    config, args = job
    if args.threads:
        torch.set_num_threads(args.threads)
    return run_seed(config, args.output / f"seed-{config.seed}", args)


def _rel(a: float, b: float) -> str:
    return f"{(b - a) / a:+.0%}" if a else "n/a"


def table(results: list[dict[str, Any]]) -> str:
    done = [r for r in results if "grpo" in r]
    lines = ["| seed | metric | SFT | GRPO | change |", "|---|---|---|---|---|"]
    for r in done:
        for m in METRICS:
            a, b = r["sft"][m], r["grpo"][m]
            lines.append(f"| {r['seed']} | {m} | {a:.3f} | {b:.3f} | {_rel(a, b)} |")
        lines.append(
            f"| {r['seed']} | minutes: SFT, GRPO (CPU minutes) | {r['sft_seconds'] / 60:.1f} "
            f"({r['sft_cpu_seconds'] / 60:.1f}) | {r['grpo_seconds'] / 60:.1f} ({r['grpo_cpu_seconds'] / 60:.1f}) | "
            f"load {r['load_before']:.1f} -> {r['load_after']:.1f} |"
        )
    for m in METRICS if done else ():
        a = statistics.mean(r["sft"][m] for r in done)
        b = statistics.mean(r["grpo"][m] for r in done)
        spread = statistics.pstdev(r["grpo"][m] - r["sft"][m] for r in done)
        lines.append(f"| mean | {m} | {a:.3f} | {b:.3f} | {_rel(a, b)} (+-{spread:.3f} abs over seeds) |")
    for r in results:
        for w, metrics in r.get("cfg_sweep", {}).items():
            summary = ", ".join(f"{m} {metrics[m]:.3f}" for m in METRICS[:1] + METRICS[5:7])
            lines.append(f"| {r['seed']} | SFT at CFG {w} | {summary} | | |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--output", type=Path, required=True, help="folder for runs, results.json, table.md")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--samples-per-prompt", type=int, default=8, help="held-out samples per prompt")
    parser.add_argument("--eval-seed", type=int, default=12345, help="sampling seed of both evaluations")
    parser.add_argument(
        "--config", type=Path, help="YAML overrides of EmbeddedConfig (sections world, model, sft, grpo)"
    )
    parser.add_argument("--cfg-sweep", type=float, nargs="*", default=[], help="CFG scales to try on SFT")
    parser.add_argument("--skip-grpo", action="store_true", help="SFT and its evaluation only")
    parser.add_argument(
        "--reuse-sft",
        type=Path,
        help="an earlier --output: each seed's SFT checkpoint there (seed-N/sft/policy) is used instead of "
        "training SFT again, to compare GRPO settings from the same starting points",
    )
    parser.add_argument(
        "--threads", type=int, default=0, help="torch threads per seed (0: torch's default, one per core)"
    )
    parser.add_argument(
        "--jobs", type=int, default=1, help="seeds trained at once, one process each (a 2-core machine: 2)"
    )
    args = parser.parse_args()
    overrides: dict[str, Any] = {}
    if args.config:
        import yaml

        overrides = yaml.safe_load(args.config.read_text()) or {}
    args.policy = overrides.pop("policy", None)  # PolicySpec: tiny (default) or planner (synthetic world)
    args.output.mkdir(parents=True, exist_ok=True)
    results: list[dict[str, Any]] = []
    jobs = [(EmbeddedConfig.from_dict({**overrides, "seed": seed}), args) for seed in args.seeds]
    with multiprocessing.get_context("spawn").Pool(max(1, args.jobs)) as pool:
        for result in pool.imap(_run_seed_job, jobs):
            results.append(result)
            (args.output / "results.json").write_text(json.dumps(results, indent=2))
            print(table(results[-1:]), flush=True)
    text = table(results)
    (args.output / "table.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
