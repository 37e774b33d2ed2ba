"""Training jobs, run in the step's own process or under ``accelerate launch`` (multi-GPU, DeepSpeed ZeRO).

A training step hands its job (SFT or GRPO, the run config, the data, the work folder) to
:func:`run_training_job` with the step's ``launch`` parameter:

- no ``launch`` (the embedded default): the trainer runs in the step's process;
- ``launch: {num_processes: 8, config_file: infra/accelerate/zero2.yaml}`` (cluster configs): the job is written
  to ``<work folder>/job/`` and the step runs::

      python -m accelerate.commands.launch --config_file infra/accelerate/zero2.yaml --num_processes 8 \\
          -m steps._launch <work folder>/job/job.json

  Every process builds the same policy and an ``accelerate.Accelerator`` (DeepSpeed from the accelerate config)
  and calls the same trainer; the main process logs metrics and writes ``result.json``, which the step reads
  back to log metadata and return artifacts. ``num_processes: 0`` means one process per visible GPU.

Why not ZenML's ``run_with_accelerate``: it takes the ``accelerate launch`` arguments when the module is imported
(a decorator above ``@step``), so they cannot come from a run config, and it runs the whole step body in every
process, where ZenML's step context (metadata, artifacts) does not exist. This module imports no ZenML.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from steps._config import REPO, apply_torch_threads, embedded_config, metrics_logger

if TYPE_CHECKING:
    from accelerate import Accelerator

__all__ = ["LaunchSettings", "TrainingResult", "run_training_job"]

KINDS = ("sft", "grpo")


@dataclass(frozen=True)
class LaunchSettings:
    """How a training step runs.

    Attributes:
        num_processes: 1 = in the step's process (unless ``config_file`` is set); N > 1 = ``accelerate launch``
            with N processes; 0 = one process per visible GPU.
        config_file: an accelerate config, e.g. ``infra/accelerate/zero2.yaml`` (DeepSpeed ZeRO-2); relative
            paths are read from the repository root.
        main_process_port: the rendezvous port (accelerate's default when None).
    """

    num_processes: int = 1
    config_file: str | None = None
    main_process_port: int | None = None

    def __post_init__(self) -> None:
        if self.num_processes < 0:
            raise ValueError(f"launch.num_processes must be >= 0 (0 = one per GPU), got {self.num_processes}")
        if self.config_file is not None and not self.config_path().is_file():
            raise FileNotFoundError(
                f"launch.config_file {self.config_file!r} not found at {self.config_path()}"
            )

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> LaunchSettings:
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(data or {}) - names)
        if unknown:
            raise ValueError(f"launch: unknown keys {unknown}; known: {sorted(names)}")
        return cls(**(data or {}))

    def config_path(self) -> Path:
        assert self.config_file is not None
        path = Path(self.config_file)
        return path if path.is_absolute() else REPO / path

    @property
    def in_process(self) -> bool:
        return self.num_processes == 1 and self.config_file is None

    def processes(self) -> int:
        if self.num_processes:
            return self.num_processes
        import torch

        count = torch.cuda.device_count()
        if count < 1:
            raise RuntimeError("launch.num_processes is 0 (one per GPU) but no GPU is visible")
        return count


@dataclass(frozen=True)
class TrainingResult:
    """What a training job left: the final policy folder, the steps reached, the last metrics."""

    policy_dir: Path
    steps: int
    skipped_steps: int
    final_metrics: dict[str, float]


def _train(
    kind: str,
    config: dict[str, Any],
    data: pd.DataFrame,
    folder: Path,
    sft_checkpoint: Path | None,
    accelerator: Accelerator | None,
) -> TrainingResult:
    from gotr1.backends import (
        JudgeSpec,
        PolicySpec,
        build_judge,
        initial_policy,
        load_policy,
        load_trained_policy,
    )
    from gotr1.embedded import prompt_items, sft_examples_from_frame
    from gotr1.tracking import MlflowLogger, MultiLogger
    from gotr1.training.grpo import run_grpo
    from gotr1.training.sft import run_sft

    apply_torch_threads()
    cfg = embedded_config(config)
    spec = PolicySpec.from_dict(config.get("policy"))
    main = accelerator is None or accelerator.is_main_process
    logger = metrics_logger(kind, folder) if main else None
    if kind == "sft":
        corpus = [text for column in ("prompt", "chain") for text in data[column].astype(str)]
        policy = initial_policy(spec, cfg, corpus)
        examples = sft_examples_from_frame(data, policy.codec, images=policy.trains_image_tokens)
        result: Any = run_sft(cfg.sft, policy, examples, folder, logger, accelerator=accelerator)
    else:
        policy = load_trained_policy(sft_checkpoint) if sft_checkpoint is not None else load_policy(spec, cfg)
        judge = build_judge(JudgeSpec.from_dict(config.get("judge")), policy.codec)
        result = run_grpo(
            cfg.grpo, policy, prompt_items(data), judge, folder, logger, accelerator=accelerator
        )
    if isinstance(logger, MultiLogger):
        for each in logger.loggers:
            if isinstance(each, MlflowLogger):
                each.close()
    return TrainingResult(
        Path(result.policy_dir), int(result.steps), int(result.skipped_steps), dict(result.final_metrics)
    )


def run_training_job(
    kind: str,
    config: dict[str, Any] | None,
    data: pd.DataFrame,
    folder: Path,
    launch: LaunchSettings,
    sft_checkpoint: Path | None = None,
) -> TrainingResult:
    """Train (``kind`` ``sft`` on curated records, ``grpo`` on RL prompts from ``sft_checkpoint`` or the
    configured policy) in ``folder`` (resumes from its checkpoints), in process or under ``accelerate launch``.

    Raises:
        RuntimeError: the launched job failed (its exit code and the command are in the message).
    """
    if kind not in KINDS:
        raise ValueError(f"training kind must be one of {KINDS}, got {kind!r}")
    if launch.in_process:
        return _train(kind, config or {}, data, folder, sft_checkpoint, None)
    job = folder / "job"
    job.mkdir(parents=True, exist_ok=True)
    (job / "result.json").unlink(missing_ok=True)
    data.to_parquet(job / "data.parquet")
    spec = {
        "kind": kind,
        "config": config or {},
        "folder": str(folder),
        "sft_checkpoint": None if sft_checkpoint is None else str(sft_checkpoint),
    }
    (job / "job.json").write_text(json.dumps(spec, indent=2))
    command = [sys.executable, "-m", "accelerate.commands.launch"]
    if launch.config_file is not None:
        command += ["--config_file", str(launch.config_path())]
    command += ["--num_processes", str(launch.processes())]
    if launch.main_process_port is not None:
        command += ["--main_process_port", str(launch.main_process_port)]
    command += ["-m", "steps._launch", str(job / "job.json")]
    finished = subprocess.run(command, cwd=REPO, check=False)
    if finished.returncode != 0 or not (job / "result.json").is_file():
        raise RuntimeError(
            f"{kind} training under accelerate failed (exit code {finished.returncode}): {' '.join(command)}"
        )
    result = json.loads((job / "result.json").read_text())
    return TrainingResult(
        Path(result["policy_dir"]), result["steps"], result["skipped_steps"], result["final_metrics"]
    )


def _accumulation(kind: str, config: dict[str, Any]) -> int:
    """Micro-batches per optimizer step, as the trainers expect the accelerator to accumulate them."""
    cfg = embedded_config(config)
    if kind == "sft":
        return cfg.sft.grad_accumulation
    return cfg.grpo.rollouts_per_step // (cfg.grpo.micro_batch_size or cfg.grpo.rollouts_per_step)


def main(job_file: str) -> None:
    """The body of each ``accelerate launch`` process."""
    from accelerate import Accelerator

    spec = json.loads(Path(job_file).read_text())
    kind, config, folder = spec["kind"], spec["config"], Path(spec["folder"])
    accelerator = Accelerator(gradient_accumulation_steps=_accumulation(kind, config))
    data = pd.read_parquet(Path(job_file).with_name("data.parquet"))
    checkpoint = None if spec["sft_checkpoint"] is None else Path(spec["sft_checkpoint"])
    result = _train(kind, config, data, folder, checkpoint, accelerator)
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        payload = {
            "policy_dir": str(result.policy_dir),
            "steps": result.steps,
            "skipped_steps": result.skipped_steps,
            "final_metrics": result.final_metrics,
            "processes": accelerator.num_processes,
            "distributed_type": str(accelerator.distributed_type),
        }
        Path(job_file).with_name("result.json").write_text(json.dumps(payload, indent=2))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python -m steps._launch <job.json>  (started by accelerate launch)")
    main(sys.argv[1])
