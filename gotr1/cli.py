"""gotr1: generate with and evaluate a trained GoT-R1-style checkpoint, outside any pipeline.

  gotr1 generate --checkpoint DIR --prompt "a photo of a red dog left of a cup" --n 4 --output out/
  gotr1 generate --checkpoint DIR --prompts prompts.txt --output out/
  gotr1 evaluate --checkpoint GRPO_DIR --compare SFT_DIR --prompts evaluation_metadata.jsonl --output report/
  gotr1 evaluate --checkpoint DIR --prompts T2I-CompBench/examples/dataset/ --judge http \\
      --judge-url http://judge:8000 --output report/

A checkpoint is a folder written by a policy's ``save_pretrained`` (the tiny policy, Janus-Pro or a planner with
its executor; the training pipeline's ``.../policy`` folders). ``generate`` writes, per sample, the chain (``.chain.txt``), the image
(``.png``) and the image with the planned boxes drawn (``.boxes.png``). ``evaluate`` writes ``report.json``
(every score, the settings, the checkpoints, the prompt file's sha256), ``report.html`` (tables, plots, samples)
and GenEval-format result rows (``geneval_<model>_<plan|image>.jsonl``, readable by GenEval's
``summary_scores.py``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["build_parser", "main"]

# What save_pretrained writes: a Janus policy's codec.json, or a planner's executor.json and planner.json.
_CHECKPOINT_FILES = {
    "janus": ("config.json", "codec.json", "generation.json"),
    "planner": ("config.json", "executor.json", "generation.json", "planner.json"),
}


class UsageError(Exception):
    """A bad argument: reported as ``gotr1 <command>: error: ...`` with exit status 2."""


# ---------------------------------------------------------------------------------------------- validation
def _check_checkpoint(path: Path, flag: str) -> Path:
    if not path.exists():
        raise UsageError(f"{flag} {path}: no such folder")
    if not path.is_dir():
        raise UsageError(f"{flag} {path}: not a folder (a checkpoint is the folder save_pretrained wrote)")
    family = "planner" if (path / "planner.json").is_file() else "janus"
    missing = [f for f in _CHECKPOINT_FILES[family] if not (path / f).is_file()]
    if missing:
        hint = next(
            (
                f"; did you mean {sub}?"
                for sub in (path / "policy", path / "checkpoint")
                if (sub / "config.json").is_file()
            ),
            "",
        )
        raise UsageError(f"{flag} {path}: not a gotr1 checkpoint ({', '.join(missing)} missing){hint}")
    return path


def _check_readable(path: Path, flag: str, folder_ok: bool = False) -> Path:
    if not path.exists():
        raise UsageError(f"{flag} {path}: no such file")
    if path.is_dir():
        if folder_ok:
            return path
        raise UsageError(f"{flag} {path}: is a folder, expected a file")
    try:
        path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise UsageError(f"{flag} {path}: not UTF-8 text ({err.reason} at byte {err.start})") from err
    except OSError as err:
        raise UsageError(f"{flag} {path}: cannot be read ({err.strerror})") from err
    return path


def _check_output(path: Path) -> Path:
    if path.exists() and not path.is_dir():
        raise UsageError(f"--output {path}: exists and is not a folder")
    return path


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1], got {value}")
    return value


# ---------------------------------------------------------------------------------------------- loading
def _load_policy(path: Path, args: argparse.Namespace) -> Any:
    import torch

    from gotr1.backends import load_trained_policy

    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: no CUDA device is available")
    kwargs: dict[str, Any] = {}
    if args.dtype != "auto":
        kwargs["dtype"] = getattr(torch, args.dtype)
    elif device == "cuda":
        kwargs["dtype"] = torch.bfloat16
    policy = load_trained_policy(path, **kwargs)
    policy.model.to(device)
    return policy


def _prompt_lines(path: Path) -> list[str]:
    from gotr1.data.curation import load_prompt_lines

    prompts = load_prompt_lines(str(path))
    if not prompts:
        raise UsageError(f"--prompts {path}: has no prompt (every line is blank)")
    return prompts


# ---------------------------------------------------------------------------------------------- generate
def generate(args: argparse.Namespace) -> int:
    from gotr1.evaluation.report import sample_with_boxes

    checkpoint = _check_checkpoint(args.checkpoint, "--checkpoint")
    if args.prompt is not None and not args.prompt.strip():
        raise UsageError("--prompt is empty")
    prompts = (
        [args.prompt]
        if args.prompt is not None
        else _prompt_lines(_check_readable(args.prompts, "--prompts"))
    )
    output = _check_output(args.output)
    policy = _load_policy(checkpoint, args)
    output.mkdir(parents=True, exist_ok=True)
    written = 0
    for start in range(0, len(prompts), args.batch_prompts):
        chunk = prompts[start : start + args.batch_prompts]
        rollout = policy.rollout(chunk, args.n, seed=args.seed + start)
        for i, (text, image) in enumerate(zip(rollout.chain_texts, rollout.images, strict=True)):
            index = start + i // args.n
            stem = output / f"{index:04d}-{i % args.n}"
            picture = policy.codec.to_pil(image)
            stem.with_suffix(".chain.txt").write_text(f"{prompts[index]}\n{text}\n", encoding="utf-8")
            picture.save(stem.with_suffix(".png"))
            sample_with_boxes(picture, text).save(stem.with_suffix(".boxes.png"))
            written += 1
    print(f"wrote {written} samples (chain, image, image with planned boxes) to {output}")
    return 0


# ---------------------------------------------------------------------------------------------- evaluate
def _judge(args: argparse.Namespace, codec: Any) -> Any:
    from gotr1.backends import JudgeSpec, build_judge
    from gotr1.synthetic.codec import GridCodec

    if args.judge == "verifier":
        if not isinstance(codec, GridCodec):
            raise UsageError(
                "--judge verifier scores synthetic-world checkpoints only; this checkpoint makes real images: "
                "use --judge http --judge-url URL"
            )
        return build_judge(JudgeSpec(kind="verifier"), codec)
    try:
        spec = JudgeSpec(kind="http", base_url=args.judge_url, model=args.judge_model)
        return build_judge(spec, codec)
    except ValueError as err:
        raise UsageError(f"--judge-url: {err}") from err


def evaluate(args: argparse.Namespace) -> int:
    from gotr1.evaluation.report import render_evaluation_html
    from gotr1.evaluation.suites import evaluate_model, infer_format, load_prompt_set
    from gotr1.rewards import RewardConfig

    checkpoints = [
        ("candidate" if args.compare else "model", _check_checkpoint(args.checkpoint, "--checkpoint"))
    ]
    if args.compare:
        checkpoints.append(("baseline", _check_checkpoint(args.compare, "--compare")))
    if args.name:
        if len(args.name) != len(checkpoints):
            raise UsageError(
                f"--name takes one label per checkpoint ({len(checkpoints)}), got {len(args.name)}"
            )
        checkpoints = [(n, p) for n, (_, p) in zip(args.name, checkpoints, strict=True)]
    prompts_path = _check_readable(args.prompts, "--prompts", folder_ok=True)
    fmt = infer_format(prompts_path) if args.format == "auto" else args.format
    if prompts_path.is_dir() and fmt != "t2i-compbench":
        raise UsageError(f"--prompts {prompts_path}: a folder is read only with --format t2i-compbench")
    try:
        prompt_set = load_prompt_set(prompts_path, fmt)
    except (ValueError, FileNotFoundError) as err:
        raise UsageError(f"--prompts {prompts_path} (--format {fmt}): {err}") from err
    if args.max_prompts:
        prompt_set = type(prompt_set)(
            prompt_set.format, prompt_set.source, prompt_set.items[: args.max_prompts]
        )
    if not prompt_set.items:
        raise UsageError(f"--prompts {prompts_path}: has no prompt")
    output = _check_output(args.output)
    if args.judge == "http" and not args.judge_url:
        raise UsageError(
            "--judge http needs --judge-url (an OpenAI-compatible server such as vLLM, e.g. http://judge:8000)"
        )

    start = time.perf_counter()
    reward = RewardConfig(
        max_judge_failure_rate=1.0
    )  # an evaluation counts judge failures, never stops on them
    models, codecs = [], []
    for name, path in checkpoints:
        policy = _load_policy(path, args)
        judge = _judge(args, policy.codec)
        result = evaluate_model(
            name,
            str(path.resolve()),
            policy,
            prompt_set,
            judge,
            samples_per_prompt=args.samples_per_prompt,
            seed=args.seed,
            reward=reward,
            batch_prompts=args.batch_prompts,
            pi_threshold=args.pi_threshold,
        )
        models.append(result)
        codecs.append(policy.codec)
        print(_summary_line(result), flush=True)

    report = {
        "command": "gotr1 evaluate",
        "prompts": str(prompts_path.resolve()),
        "prompts_sha256": _sha256(prompts_path, fmt),
        "format": fmt,
        "prompt_count": len(prompt_set.items),
        "groups": prompt_set.groups,
        "judge": args.judge
        if args.judge == "verifier"
        else f"{args.judge} {args.judge_model} at {args.judge_url}",
        "samples_per_prompt": args.samples_per_prompt,
        "seed": args.seed,
        "config": {
            "batch_prompts": args.batch_prompts,
            "pi_threshold": args.pi_threshold,
            "reward": {"kind": reward.kind, "weights": reward.weights},
            "device": args.device,
            "dtype": args.dtype,
            "max_prompts": args.max_prompts,
        },
        "models": {m.name: m.to_json() for m in models},
        "seconds": time.perf_counter() - start,
    }
    output.mkdir(parents=True, exist_ok=True)
    (output / "report.json").write_text(json.dumps(report, indent=2, default=_json_default), encoding="utf-8")
    for m in models:
        (output / f"samples_{m.name}.jsonl").write_text(
            "".join(json.dumps(s.to_json()) + "\n" for s in m.samples), encoding="utf-8"
        )
        for kind, rows in m.results.items():
            (output / f"geneval_{m.name}_{kind}.jsonl").write_text(
                "".join(json.dumps(r.to_json()) + "\n" for r in rows), encoding="utf-8"
            )
    (output / "report.html").write_text(render_evaluation_html(report, models, codecs), encoding="utf-8")
    print(f"report: {output / 'report.html'} and report.json ({report['seconds']:.0f} s)")
    return 0


def _summary_line(m: Any) -> str:
    parts = [f"{m.name}:"]
    for kind in ("plan", "image"):
        if f"geneval/{kind}/overall" in m.metrics:
            inside = m.metrics.get(f"geneval_in_vocabulary/{kind}/overall", float("nan"))
            parts.append(
                f"GenEval {kind} {m.metrics[f'geneval/{kind}/overall']:.3f} (in vocabulary {inside:.3f}),"
            )
    parts.append(f"total reward {m.metrics['reward/total']:.3f}, r_pi {m.metrics['reward/r_pi']:.3f};")
    parts.append(
        f"{len(m.out_of_vocabulary)} prompts outside the vocabulary, {len(m.unscorable)} unscorable, "
        f"{len(m.samples)} samples in {m.seconds:.0f} s"
    )
    return " ".join(parts)


def _sha256(path: Path, fmt: str) -> str:
    """The prompt file's sha256 (a folder of T2I-CompBench files: over each file's name and bytes, in order)."""
    digest = hashlib.sha256()
    if path.is_dir():
        for file in sorted(path.glob("*_val.txt")):
            digest.update(file.name.encode() + b"\0" + file.read_bytes())
    else:
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _json_default(value: Any) -> Any:
    return str(value)


# ---------------------------------------------------------------------------------------------- parser
def _model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, default=0, metavar="S", help="sampling seed (default 0)")
    parser.add_argument(
        "--batch-prompts",
        type=_positive,
        default=32,
        metavar="N",
        help="prompts per rollout call (default 32)",
    )
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument(
        "--dtype",
        choices=["auto", "float32", "bfloat16", "float16"],
        default="auto",
        help="model dtype (auto: the checkpoint's on CPU, bfloat16 on CUDA)",
    )
    parser.add_argument(
        "--threads",
        type=_positive,
        metavar="N",
        help="torch CPU threads (1 avoids thread contention on a busy machine)",
    )
    parser.add_argument("--output", type=Path, required=True, metavar="DIR", help="output folder (created)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gotr1", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="{generate,evaluate}")

    gen = sub.add_parser("generate", help="write chains, images and images with the planned boxes drawn")
    gen.add_argument("--checkpoint", type=Path, required=True, metavar="DIR", help="a save_pretrained folder")
    source = gen.add_mutually_exclusive_group(required=True)
    source.add_argument("--prompt", metavar="TEXT", help="one prompt")
    source.add_argument("--prompts", type=Path, metavar="FILE", help="a file with one prompt a line")
    gen.add_argument("--n", type=_positive, default=1, metavar="N", help="samples per prompt (default 1)")
    _model_options(gen)
    gen.set_defaults(func=generate)

    ev = sub.add_parser(
        "evaluate", help="GenEval / T2I-CompBench evaluation with report.json and report.html"
    )
    ev.add_argument("--checkpoint", type=Path, required=True, metavar="DIR", help="a save_pretrained folder")
    ev.add_argument(
        "--compare",
        type=Path,
        metavar="DIR",
        help="a second checkpoint shown side by side (e.g. the SFT model)",
    )
    ev.add_argument(
        "--name",
        nargs="+",
        metavar="LABEL",
        help="labels for the checkpoint(s) (default: candidate, baseline)",
    )
    ev.add_argument(
        "--prompts",
        type=Path,
        required=True,
        metavar="PATH",
        help="GenEval evaluation_metadata.jsonl, a T2I-CompBench <category>_val.txt or folder, or prompt lines",
    )
    ev.add_argument(
        "--format",
        choices=["auto", "geneval", "t2i-compbench", "lines"],
        default="auto",
        help="auto: .jsonl is geneval, a folder or *_val.txt is t2i-compbench, else lines",
    )
    ev.add_argument("--judge", choices=["verifier", "http"], default="verifier", help="default: verifier")
    ev.add_argument(
        "--judge-url",
        metavar="URL",
        help="--judge http: an OpenAI-compatible server, e.g. http://judge:8000 (/v1/chat/completions is "
        "appended; the key is read from $GOTR1_JUDGE_API_KEY)",
    )
    ev.add_argument(
        "--judge-model", default="qwen2.5-vl-7b", metavar="NAME", help="--judge http: the served model name"
    )
    ev.add_argument(
        "--pi-threshold",
        type=_fraction,
        metavar="X",
        default=0.8,
        help="judged images: r_pi at or above this counts as GenEval-correct (default 0.8 = 8/10)",
    )
    ev.add_argument(
        "--samples-per-prompt", type=_positive, default=4, metavar="N", help="default 4, as GenEval"
    )
    ev.add_argument("--max-prompts", type=_positive, metavar="N", help="evaluate only the first N prompts")
    _model_options(ev)
    ev.set_defaults(func=evaluate)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run a command; a bad argument exits with status 2 and says what is wrong (``SystemExit``)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    threads = None
    if args.threads:
        import torch

        threads = torch.get_num_threads()
        torch.set_num_threads(args.threads)
    try:
        return int(args.func(args))
    except UsageError as err:
        parser.exit(2, f"gotr1 {args.command}: error: {err}\n")
    finally:
        if threads is not None:
            torch.set_num_threads(threads)


if __name__ == "__main__":
    sys.exit(main())
