"""Glue the steps share: the run config, work folders that outlive a step, the stack's MLflow, lineage facts.

Nothing here trains or scores; the steps call gotr1 for that.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pandas as pd

from gotr1.embedded import EmbeddedConfig
from gotr1.tracking import JsonlLogger, MetricsLogger, MlflowLogger, MultiLogger, read_jsonl_metrics

__all__ = [
    "MODEL_NAME",
    "apply_torch_threads",
    "code_version",
    "curves_html",
    "embedded_config",
    "fingerprint",
    "frame_fingerprint",
    "metrics_logger",
    "use_stack_mlflow",
    "work_dir",
]

MODEL_NAME = "gotr1"
REPO = Path(__file__).resolve().parents[1]


def apply_torch_threads() -> None:
    """``GOTR1_TORCH_THREADS`` caps torch's intra-op threads (unset: torch's default, one per core). Alone on an
    idle 2-core machine the default is fastest (SFT 0.26 s/step with 2 threads, 0.39 with 1); when other jobs
    share the cores, 1 is much faster: spinning OpenMP threads fight over busy cores."""
    threads = os.environ.get("GOTR1_TORCH_THREADS")
    if threads:
        import torch

        torch.set_num_threads(int(threads))


def embedded_config(config: dict[str, Any] | None) -> EmbeddedConfig:
    """The pipeline's ``config`` parameter as the validated embedded config (unknown keys are errors)."""
    return EmbeddedConfig.from_dict(config or {})


def work_dir(stage: str, *keys: Any) -> Path:
    """A folder that outlives the step, keyed by what the step trains on, so a crashed or killed run of the same
    step resumes from its last checkpoint (``GOTR1_WORK_DIR``, default ``.gotr1/work``; a persistent volume on a
    cluster)."""
    digest = hashlib.sha256(json.dumps(keys, sort_keys=True, default=str).encode()).hexdigest()[:12]
    path = Path(os.environ.get("GOTR1_WORK_DIR", ".gotr1/work")).resolve() / f"{stage}-{digest}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def fingerprint(folder: Path) -> str:
    """A cheap content key of a checkpoint folder: file names, sizes and the first MiB of each file."""
    digest = hashlib.sha256()
    for file in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(f"{file.relative_to(folder)}:{file.stat().st_size}".encode())
        with file.open("rb") as f:
            digest.update(f.read(1 << 20))
    return digest.hexdigest()[:16]


def frame_fingerprint(frame: pd.DataFrame) -> str:
    """A content key of a dataset artifact (every cell, in order)."""
    cells = frame.astype(str)
    return hashlib.sha256(pd.util.hash_pandas_object(cells, index=False).values.tobytes()).hexdigest()[:16]


def use_stack_mlflow() -> str | None:
    """Point MLflow at the active stack's MLflow experiment tracker when it has one (tracking URI and credentials
    go into the environment, so processes started by the step inherit them); otherwise ``MLFLOW_TRACKING_URI``
    stays as it is. Returns the tracking URI in use, or None when MLflow is not configured."""
    from zenml.client import Client

    tracker = Client().active_stack.experiment_tracker
    if tracker is not None and tracker.flavor == "mlflow":
        tracker.configure_mlflow()  # type: ignore[attr-defined]
    return os.environ.get("MLFLOW_TRACKING_URI") or None


def metrics_logger(stage: str, folder: Path) -> MetricsLogger:
    """JSONL beside the checkpoints, and MLflow when a tracking URI is configured: one MLflow run per work folder
    (experiment ``gotr1``), reused when the step resumes, so no step is logged twice."""
    loggers: list[MetricsLogger] = [JsonlLogger(folder / "metrics.jsonl")]
    if os.environ.get("MLFLOW_TRACKING_URI"):
        run_file = folder / "mlflow_run_id"
        run_id = run_file.read_text().strip() if run_file.exists() else None
        mlflow_logger = MlflowLogger(MODEL_NAME, run_name=f"{stage}-{folder.name}", run_id=run_id)
        run_file.write_text(mlflow_logger.run_id)
        loggers.append(mlflow_logger)
    return MultiLogger(loggers)


def curves_html(metrics_file: Path, keys: tuple[str, ...], title: str) -> str:
    """An HTML page with the training curves of ``keys`` read from a trainer's metrics JSONL (inline PNG)."""
    from gotr1.evaluation.report import curves_png

    rows = read_jsonl_metrics(metrics_file)
    series = {k: [(int(r["step"]), float(r[k])) for r in rows if r.get(k) is not None] for k in keys}
    series = {k: v for k, v in series.items() if v}
    body = f"<img src='{curves_png(series, title)}'/>" if series else "<p>no metrics were logged</p>"
    return f"<html><body style='font-family:sans-serif'><h2>{title}</h2>{body}</body></html>"


def code_version() -> dict[str, str]:
    """The code that trained a model: the git commit (and whether library, steps or pipelines had uncommitted
    changes), or ``GOTR1_CODE_VERSION`` where there is no git checkout (set when the training image is built)."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=REPO, capture_output=True, text=True, check=True, timeout=30
        ).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--", "gotr1", "steps", "pipelines"))
        return {"commit": commit, "dirty": str(dirty).lower(), "source": "git"}
    except (OSError, subprocess.SubprocessError):
        return {
            "commit": os.environ.get("GOTR1_CODE_VERSION", "unknown"),
            "dirty": "unknown",
            "source": "env",
        }
