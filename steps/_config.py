"""Glue shared by the steps: the embedded config from a pipeline parameter, a resumable work folder, loggers."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from gotr1.embedded import EmbeddedConfig
from gotr1.tracking import JsonlLogger, MetricsLogger, MlflowLogger, MultiLogger


def embedded_config(config: dict[str, Any] | None) -> EmbeddedConfig:
    return EmbeddedConfig.from_dict(config or {})


def work_dir(stage: str, *keys: Any) -> Path:
    """A folder that outlives the step, keyed by what the step trains on, so that a crashed or killed run of the
    same step resumes from its last checkpoint (``GOTR1_WORK_DIR``, default ``.gotr1/work``)."""
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


def metrics_logger(stage: str, folder: Path) -> MetricsLogger:
    """JSONL beside the checkpoints, and MLflow when ``MLFLOW_TRACKING_URI`` is set (one run per work folder,
    reused on resume so no step is logged twice)."""
    loggers: list[MetricsLogger] = [JsonlLogger(folder / "metrics.jsonl")]
    if os.environ.get("MLFLOW_TRACKING_URI"):
        run_file = folder / "mlflow_run_id"
        run_id = run_file.read_text().strip() if run_file.exists() else None
        mlflow_logger = MlflowLogger("gotr1", run_name=f"{stage}-{folder.name}", run_id=run_id)
        run_file.write_text(mlflow_logger.run_id)
        loggers.append(mlflow_logger)
    return MultiLogger(loggers)
