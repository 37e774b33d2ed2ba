"""`gotr1 generate` and `gotr1 evaluate`: for people who are not inside a pipeline.

gotr1 generate --checkpoint DIR --prompt "a photo of a red dog left of a cup" --n 4 --output out/
gotr1 evaluate --checkpoint GRPO_DIR --compare SFT_DIR --prompts evaluation_metadata.jsonl --output report/
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["main"]


def _checkpoint(path: Path) -> Path:
    if not (path / "config.json").is_file() or not (path / "codec.json").is_file():
        raise SystemExit(f"error: {path} is not a gotr1 checkpoint (config.json and codec.json are required)")
    return path


def _read_prompts(args: argparse.Namespace) -> list[str]:
    if args.prompt:
        return [args.prompt]
    if not args.prompts.is_file():
        raise SystemExit(f"error: prompt file {args.prompts} does not exist")
    return [line.strip() for line in args.prompts.read_text().splitlines() if line.strip()]


def generate(args: argparse.Namespace) -> int:
    from gotr1.evaluation.report import sample_with_boxes
    from gotr1.models.janus import JanusPolicy

    policy = JanusPolicy.from_pretrained(_checkpoint(args.checkpoint))
    prompts = _read_prompts(args)
    args.output.mkdir(parents=True, exist_ok=True)
    rollout = policy.rollout(prompts, args.n, seed=args.seed)
    for i, (text, image) in enumerate(zip(rollout.chain_texts, rollout.images, strict=True)):
        stem = args.output / f"{i // args.n:04d}-{i % args.n}"
        picture = policy.codec.to_pil(image)
        stem.with_suffix(".chain.txt").write_text(f"{prompts[i // args.n]}\n{text}\n")
        picture.save(stem.with_suffix(".png"))
        sample_with_boxes(picture, text).save(stem.with_suffix(".boxes.png"))
    print(f"wrote {len(rollout)} samples (chain, image, image with planned boxes) to {args.output}")
    return 0


def _specs(args: argparse.Namespace, classes: tuple[str, ...]) -> tuple[list[Any], list[str]]:
    """Scene specs to score, and the prompts left out (outside the model's vocabulary, or not parseable)."""
    from gotr1.data.curation import load_geneval_prompts, load_prompt_lines
    from gotr1.scenes.prompt_parser import parse_prompt
    from gotr1.scenes.spec import SceneSpec

    if args.format == "geneval":
        specs = [SceneSpec.from_geneval(r) for r in load_geneval_prompts(str(args.prompts))]
    else:
        lines = load_prompt_lines(str(args.prompts))
        parsed = [(p, parse_prompt(p)) for p in lines]
        specs = [s for _, s in parsed if s is not None]
        skipped = [p for p, s in parsed if s is None]
        if skipped:
            print(f"{len(skipped)} prompts are not GenEval-style and cannot be scored by the verifier judge")
    known = [s for s in specs if all(o.cls in classes for o in s.include)]
    outside = [s.prompt for s in specs if s not in known]
    return known, outside


def evaluate(args: argparse.Namespace) -> int:
    from gotr1.evaluation.report import render_report
    from gotr1.evaluation.rollouts import evaluate_policy
    from gotr1.judges.verifier import VerifierJudge
    from gotr1.models.janus import JanusPolicy

    if not args.prompts.is_file():
        raise SystemExit(f"error: prompt file {args.prompts} does not exist")
    checkpoints = {"candidate": _checkpoint(args.checkpoint)}
    if args.compare:
        checkpoints["baseline"] = _checkpoint(args.compare)
    start = time.perf_counter()
    results, samples, codec = {}, [], None
    for name, path in checkpoints.items():
        policy = JanusPolicy.from_pretrained(path)
        codec = policy.codec
        specs, outside = _specs(args, tuple(getattr(codec, "classes", ())))
        if not specs:
            raise SystemExit(f"error: no prompt in {args.prompts} is within the vocabulary of {path}")
        evaluation = evaluate_policy(
            policy, specs, VerifierJudge(codec), args.samples_per_prompt, seed=args.seed
        )
        metrics = dict(evaluation.metrics)
        total = len(specs) + len(outside)
        # GenEval's overall with out-of-vocabulary prompts counted as failures, beside the in-vocabulary score.
        for kind in ("plan", "image"):
            metrics[f"geneval/{kind}/overall_incl_out_of_vocabulary"] = (
                metrics[f"{kind}_accuracy"] * len(specs) / total
            )
        results[name] = metrics
        samples = samples or evaluation.samples
    report = {
        "checkpoints": {k: str(v) for k, v in checkpoints.items()},
        "prompts": str(args.prompts),
        "prompts_sha256": hashlib.sha256(args.prompts.read_bytes()).hexdigest(),
        "format": args.format,
        "judge": args.judge,
        "samples_per_prompt": args.samples_per_prompt,
        "seed": args.seed,
        "scored_prompts": len(specs),
        "out_of_vocabulary_prompts": outside,
        "metrics": results,
        "seconds": time.perf_counter() - start,
    }
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "report.json").write_text(json.dumps(report, indent=2))
    (args.output / "report.html").write_text(
        render_report(f"gotr1 evaluation: {args.prompts.name}", results, samples, codec)
    )
    for name, m in results.items():
        print(
            f"{name}: plan GenEval {m['geneval/plan/overall']:.3f}, image GenEval {m['geneval/image/overall']:.3f}, "
            f"total reward {m['reward/total']:.3f} on {len(specs)} prompts ({len(outside)} out of vocabulary)"
        )
    print(f"report: {args.output / 'report.html'} ({report['seconds']:.0f} s)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gotr1", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)

    gen = sub.add_parser("generate", help="write chains, images and images with planned boxes")
    gen.add_argument("--checkpoint", type=Path, required=True)
    source = gen.add_mutually_exclusive_group(required=True)
    source.add_argument("--prompt")
    source.add_argument("--prompts", type=Path, help="a file with one prompt a line")
    gen.add_argument("--n", type=int, default=1, help="samples per prompt")
    gen.add_argument("--seed", type=int, default=0)
    gen.add_argument("--output", type=Path, required=True)
    gen.set_defaults(func=generate)

    ev = sub.add_parser("evaluate", help="GenEval-format evaluation of plans and images, with an HTML report")
    ev.add_argument("--checkpoint", type=Path, required=True)
    ev.add_argument(
        "--compare", type=Path, help="a second checkpoint shown side by side (e.g. the SFT model)"
    )
    ev.add_argument("--prompts", type=Path, required=True)
    ev.add_argument("--format", choices=["geneval", "lines"], default="geneval")
    ev.add_argument("--judge", choices=["verifier"], default="verifier")
    ev.add_argument("--samples-per-prompt", type=int, default=4, help="GenEval uses 4")
    ev.add_argument("--seed", type=int, default=0)
    ev.add_argument("--output", type=Path, required=True)
    ev.set_defaults(func=evaluate)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "n", 1) < 1 or getattr(args, "samples_per_prompt", 1) < 1:
        raise SystemExit("error: --n and --samples-per-prompt must be >= 1")
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
