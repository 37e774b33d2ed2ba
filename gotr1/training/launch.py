"""Launch SFT or GRPO from the command line, alone or under ``accelerate launch`` (DDP or DeepSpeed ZeRO).

One process on a CPU or a GPU::

    python -m gotr1.training.launch sft  --config run.yaml --output runs/a
    python -m gotr1.training.launch grpo --config run.yaml --output runs/a --policy runs/a/sft/policy

Eight GPUs of one node with DeepSpeed ZeRO-2 (LoRA or full fine-tuning of Janus-Pro-1B) or ZeRO-3 (full
fine-tuning of Janus-Pro-7B); the accelerate configs name the DeepSpeed JSON files in ``infra/deepspeed``::

    accelerate launch --config_file infra/accelerate/zero2.yaml -m gotr1.training.launch grpo \\
        --config run.yaml --output runs/a

``run.yaml`` holds the sections of :class:`gotr1.embedded.EmbeddedConfig` (``world``, ``model``, ``sft``,
``grpo``, the data sizes, ``seed``) and, at full scale, ``policy`` and ``judge`` (:mod:`gotr1.backends`): the
same mapping the pipelines' ``config`` parameter takes. Every process samples its own prompts and the
gradients are averaged by accelerate; logging and checkpoints happen on the main process only. The
accelerator accumulates exactly the micro-batches of one optimizer step (``sft.grad_accumulation``, or
``grpo`` rollouts per step / ``grpo.micro_batch_size``); DeepSpeed's ``auto`` batch sizes are filled from the
config. Tested on the CPU with one process under DeepSpeed ZeRO-2 (``tests/training/test_scale_out.py``, slow
tier); multi-GPU runs are not exercised by the tests.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import yaml

from gotr1.backends import (
    JudgeSpec,
    PolicySpec,
    build_judge,
    initial_policy,
    load_policy,
    load_trained_policy,
)
from gotr1.embedded import EmbeddedConfig, rl_prompts, sft_examples
from gotr1.tracking import JsonlLogger
from gotr1.training.grpo import GRPOResult, run_grpo
from gotr1.training.sft import SFTResult, run_sft

__all__ = ["main"]


def _accelerator(micro_batches: int, use: bool) -> Any:
    if not use:
        return None
    from accelerate import Accelerator

    return Accelerator(gradient_accumulation_steps=micro_batches)


def launch(
    stage: str, raw: dict[str, Any], output: Path, policy_dir: Path | None, accelerate: bool
) -> object:
    """Run one stage; returns its :class:`SFTResult` or :class:`GRPOResult`."""
    policy_spec = PolicySpec.from_dict(raw.get("policy"))
    judge_spec = JudgeSpec.from_dict(raw.get("judge"))
    config = EmbeddedConfig.from_dict(raw)
    if stage == "sft":
        if policy_spec.kind == "janus_pro":
            raise SystemExit(
                "sft here trains on the synthetic world; SFT of Janus-Pro on GoT records (images VQ-encoded) runs "
                "in the pipelines: zenml pipeline run pipelines.sft_pipeline with got_records"
            )
        examples = sft_examples(config)
        policy = initial_policy(policy_spec, config, [t for e in examples for t in (e.prompt, e.chain)])
        accelerator = _accelerator(config.sft.grad_accumulation, accelerate)
        logger = JsonlLogger(output / "sft" / "metrics.jsonl")
        sft: SFTResult = run_sft(
            config.sft, policy, examples, output / "sft", logger, accelerator=accelerator
        )
        return sft
    if policy_dir is not None:
        policy = load_trained_policy(policy_dir)
    elif not policy_spec.trained_from_scratch:
        policy = load_policy(policy_spec, config)
    else:
        raise SystemExit(
            "grpo needs --policy (an SFT checkpoint) or a config whose policy is pretrained (policy.path)"
        )
    n = config.grpo.rollouts_per_step
    accelerator = _accelerator(n // (config.grpo.micro_batch_size or n), accelerate)
    judge = build_judge(judge_spec, policy.codec)
    logger = JsonlLogger(output / "grpo" / "metrics.jsonl")
    grpo: GRPOResult = run_grpo(
        config.grpo, policy, rl_prompts(config), judge, output / "grpo", logger, accelerator=accelerator
    )
    return grpo


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m gotr1.training.launch",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("stage", choices=["sft", "grpo"])
    parser.add_argument(
        "--config", type=Path, help="YAML run config (EmbeddedConfig sections, policy, judge)"
    )
    parser.add_argument(
        "--output", type=Path, required=True, help="run folder (resumes if it has checkpoints)"
    )
    parser.add_argument("--policy", type=Path, help="GRPO: the policy checkpoint to start from")
    parser.add_argument(
        "--no-accelerate", action="store_true", help="plain PyTorch even when launched by accelerate"
    )
    args = parser.parse_args(argv)
    raw: dict[str, Any] = {}
    if args.config is not None:
        if not args.config.is_file():
            parser.error(f"--config {args.config}: no such file")
        raw = yaml.safe_load(args.config.read_text()) or {}
        if not isinstance(raw, dict):
            parser.error(f"--config {args.config}: expected a mapping at the top level")
    result = launch(args.stage, raw, args.output, args.policy, not args.no_accelerate)
    print(result)


if __name__ == "__main__":
    main()
