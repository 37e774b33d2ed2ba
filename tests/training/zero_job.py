"""A few SFT or GRPO steps under accelerate + DeepSpeed ZeRO-2 in one process (``python zero_job.py sft|grpo OUT``).

The launcher's environment (MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE, LOCAL_RANK) is set by the caller, as
``accelerate launch`` sets it; writes ``OUT/report.json``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
from accelerate import Accelerator
from accelerate.utils import DeepSpeedPlugin

from gotr1.embedded import EmbeddedConfig, new_tiny_policy, rl_prompts, sft_examples
from gotr1.judges.verifier import VerifierJudge
from gotr1.rewards import RewardConfig
from gotr1.tracking import JsonlLogger, read_jsonl_metrics
from gotr1.training.config import GRPOConfig, SFTConfig
from gotr1.training.grpo import run_grpo
from gotr1.training.sft import run_sft

ROOT = Path(__file__).resolve().parents[2]


def main(kind: str, out: Path) -> None:
    torch.set_num_threads(1)
    ds_config = json.loads((ROOT / "infra" / "deepspeed" / "zero2.json").read_text())
    ds_config["bf16"] = {"enabled": False}  # CPU: fp32 weights; the trainers' own autocast still applies
    plugin = DeepSpeedPlugin(hf_ds_config=ds_config, gradient_accumulation_steps=2)
    accelerator = Accelerator(deepspeed_plugin=plugin, gradient_accumulation_steps=2)
    config = EmbeddedConfig.smoke()
    logger = JsonlLogger(out / "metrics.jsonl")
    if kind == "sft":
        examples = sft_examples(config)
        policy = new_tiny_policy(config, [t for e in examples for t in (e.prompt, e.chain)])
        before = [p.detach().clone() for p in policy.trainable_parameters()]
        sft = SFTConfig.tiny(steps=3, batch_size=8, grad_accumulation=2, warmup_steps=1, log_every=1)
        run_sft(sft, policy, examples, out, logger, accelerator=accelerator, progress=False)
    else:
        items = rl_prompts(config)
        policy = new_tiny_policy(config, [it.prompt for it in items])
        before = [p.detach().clone() for p in policy.trainable_parameters()]
        grpo = GRPOConfig.tiny(
            steps=3,
            prompts_per_step=2,
            group_size=4,
            micro_batch_size=4,
            max_chain_tokens=8,
            cfg_scale=1.0,
            reward=RewardConfig(kind="sum", weights={"r_pi": 1.0}),
        )
        judge = VerifierJudge(config.world.codec())
        run_grpo(grpo, policy, items, judge, out, logger, accelerator=accelerator, progress=False)
    changed = sum(not torch.equal(b, p) for b, p in zip(before, policy.trainable_parameters(), strict=True))
    report = {
        "distributed_type": accelerator.distributed_type.name,
        "zero_stage": accelerator.state.deepspeed_plugin.zero_stage,
        "steps_logged": [int(r["step"]) for r in read_jsonl_metrics(out / "metrics.jsonl")],
        "changed_parameters": changed,
    }
    (out / "report.json").write_text(json.dumps(report))


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]))
