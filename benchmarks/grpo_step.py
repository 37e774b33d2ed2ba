"""Benchmark a GRPO step of the embedded default, and the same settings through TRL's GRPOTrainer.

    python benchmarks/grpo_step.py [--steps 4] [--prompts 8] [--group-size 8] [--skip-trl] [--json out.json]

gotr1 side: the tiny Janus at the default size (untrained, so every chain runs to ``--max-chain-tokens``: a fixed,
upper-bound workload), the verifier judge, ``GRPOConfig.tiny()`` with the given sizes. Reported: rollout
samples/s (KV cache, CFG), GRPO step time (rollout + judge + reference + update) and samples/s, peak memory.

TRL side: ``trl.GRPOTrainer`` (trl 1.16) on a text-only tiny Qwen2 of the SAME transformer size (hidden, layers,
heads, MLP), built from a config with an offline word-level tokenizer of the world's prompts, the same prompts,
group size, prompts per step, KL beta, learning rate, and a completion length equal to ours in tokens (chain
budget + image tokens); its reward is a cheap text check (the judge is not part of the comparison).

Comparable: the transformer's size, samples per step, generated tokens per sample, one on-policy update with a
KL term to a reference, CPU threads. NOT comparable: gotr1 decodes the image span with CFG (twice the rows
there) through two heads and a static KV cache; TRL decodes one text sequence with ``generate`` and a dynamic
cache; the verifier judge runs only on the gotr1 side; TRL's Trainer adds its own bookkeeping. The ratio is a
sanity check that our loop is in the same league as a widely used implementation, not a race.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from gotr1.embedded import EmbeddedConfig, new_tiny_policy, rl_prompts
from gotr1.judges.verifier import VerifierJudge
from gotr1.tracking import JsonlLogger, read_jsonl_metrics
from gotr1.training.grpo import run_grpo


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_gotr1(args: argparse.Namespace) -> dict[str, Any]:
    torch.set_num_threads(args.threads)
    config = EmbeddedConfig.from_dict(
        {
            "rl_prompts": 512,
            "grpo": {
                "steps": args.steps + 1,
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
    prompts = [it.prompt for it in items[: args.prompts]]
    policy.rollout(prompts, args.group_size, seed=0)  # warm-up
    t0 = time.perf_counter()
    rollout = policy.rollout(prompts, args.group_size, seed=1)
    t_rollout = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        run_grpo(
            config.grpo,
            policy,
            items,
            VerifierJudge(config.world.codec()),
            tmp,
            JsonlLogger(Path(tmp) / "m.jsonl"),
            progress=False,
        )
        rows = read_jsonl_metrics(Path(tmp) / "m.jsonl")[1:]  # the first step warms up
    step = sum(r["grpo/step_time"] for r in rows) / len(rows)
    return {
        "transformer parameters": sum(p.numel() for p in policy.model.model.language_model.parameters()),
        "samples per step": n,
        "generated tokens per sample": rollout.chain_ids.shape[1] + rollout.image_ids.shape[1],
        "rollout samples/s": n / t_rollout,
        "GRPO step seconds": step,
        "GRPO samples/s": n / step,
        "rollout share of the step": sum(r["grpo/rollout_time"] for r in rows) / len(rows) / step,
        "peak memory MiB": peak_rss_mib(),
    }


def _tiny_qwen2_and_tokenizer(config: EmbeddedConfig, corpus: list[str]) -> tuple[Any, Any]:
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    pattern = r"[A-Za-z]+|\d+|\s+|[^\sA-Za-z\d]"
    words = sorted({w for text in corpus for w in __import__("re").findall(pattern, text)})
    vocab = {"<pad>": 0, "<eos>": 1, "<unk>": 2, **{w: i + 3 for i, w in enumerate(words)}}
    raw = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    raw.pre_tokenizer = pre_tokenizers.Split(Regex(pattern), behavior="isolated")
    raw.decoder = decoders.Fuse()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=raw, pad_token="<pad>", eos_token="<eos>", unk_token="<unk>"
    )
    tokenizer.padding_side = "left"
    size = config.model
    model_config = Qwen2Config(
        vocab_size=len(vocab),
        hidden_size=size.hidden_size,
        intermediate_size=size.intermediate_size,
        num_hidden_layers=size.num_layers,
        num_attention_heads=size.num_heads,
        num_key_value_heads=size.num_heads,
        max_position_embeddings=512,
        tie_word_embeddings=True,
        pad_token_id=0,
        eos_token_id=1,
    )
    return Qwen2ForCausalLM(model_config), tokenizer


def bench_trl(args: argparse.Namespace, completion_tokens: int) -> dict[str, Any]:
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    from gotr1.models.tokenizer import format_prompt

    torch.set_num_threads(args.threads)
    config = EmbeddedConfig.from_dict({"rl_prompts": 512})
    items = rl_prompts(config)
    prompts = [format_prompt(it.prompt) for it in items]
    model, tokenizer = _tiny_qwen2_and_tokenizer(config, prompts)
    n = args.group_size * args.prompts

    def names_a_class(completions: list[str], **_: Any) -> list[float]:
        return [float(any(c in text for c in config.world.class_names)) for text in completions]

    times: list[float] = []

    from transformers import TrainerCallback

    class StepTimer(TrainerCallback):  # type: ignore[misc]
        def on_step_begin(self, *a: Any, **k: Any) -> None:
            self.t0 = time.perf_counter()

        def on_step_end(self, *a: Any, **k: Any) -> None:
            times.append(time.perf_counter() - self.t0)

    with tempfile.TemporaryDirectory() as tmp:
        # TRL builds its KL reference from the model's folder: save the random tiny model there first.
        model.save_pretrained(f"{tmp}/model")
        tokenizer.save_pretrained(f"{tmp}/model")
        trl_config = GRPOConfig(
            output_dir=f"{tmp}/out",
            max_steps=args.steps + 1,
            per_device_train_batch_size=n,
            num_generations=args.group_size,
            max_completion_length=completion_tokens,
            generation_kwargs={"min_new_tokens": completion_tokens},
            temperature=1.0,
            beta=0.04,
            learning_rate=2e-4,
            use_cpu=True,
            bf16=False,
            use_vllm=False,
            report_to=[],
            logging_steps=1,
            save_strategy="no",
            seed=0,
        )
        trainer = GRPOTrainer(
            model=f"{tmp}/model",
            reward_funcs=names_a_class,
            args=trl_config,
            train_dataset=Dataset.from_dict({"prompt": prompts}),
            processing_class=tokenizer,
            callbacks=[StepTimer()],
        )
        trainer.train()
        parameters = sum(p.numel() for p in trainer.model.model.parameters())
    step = sum(times[1:]) / len(times[1:])
    return {
        "transformer parameters": parameters,
        "samples per step": n,
        "generated tokens per sample": completion_tokens,
        "GRPO step seconds": step,
        "GRPO samples/s": n / step,
        "peak memory MiB": peak_rss_mib(),
    }


def _fmt(value: float) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:.3g}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=4, help="timed steps (after one warm-up step)")
    parser.add_argument("--group-size", type=int, default=8)
    parser.add_argument("--prompts", type=int, default=8)
    parser.add_argument("--max-chain-tokens", type=int, default=112)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--skip-trl", action="store_true")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    # Each side in a fresh process, so that peak memory is its own.
    spawn = multiprocessing.get_context("spawn")
    with spawn.Pool(1) as pool:
        ours = pool.apply(bench_gotr1, (args,))
    theirs: dict[str, Any] = {}
    if not args.skip_trl:
        with spawn.Pool(1) as pool:
            theirs = pool.apply(bench_trl, (args, int(ours["generated tokens per sample"])))
    keys = list(ours)
    print(
        "| measure | gotr1 (tiny Janus, CFG, verifier) | TRL GRPOTrainer (tiny Qwen2, text) | gotr1 / TRL |"
    )
    print("|---|---|---|---|")
    for key in keys:
        a, b = ours[key], theirs.get(key)
        ratio = f"{a / b:.2f}" if isinstance(b, int | float) and b else ""
        print(f"| {key} | {_fmt(a)} | {_fmt(b) if b is not None else 'n/a'} | {ratio} |")
    print(
        "\nComparable: transformer size, samples/step, generated tokens/sample, one on-policy update with KL. "
        "Not comparable: gotr1's image span runs CFG (2x rows) through the image head with a static cache and "
        "the verifier judge; TRL generates text only with generate() and a trivial reward. Peak memory is each "
        "side's own process's peak RSS (Python, torch and the libraries included)."
    )
    if args.json:
        args.json.write_text(json.dumps({"gotr1": ours, "trl": theirs}, indent=2))


if __name__ == "__main__":
    main()
