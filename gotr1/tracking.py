"""Metrics logging for the trainers: a JSONL file, MLflow, or both.

Every logger knows the last step it holds, so a resumed run never logs a step twice: the trainer skips steps
at or below :meth:`MetricsLogger.last_step` (a run killed after logging steps past its last checkpoint replays
them deterministically and does not log them again).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

__all__ = ["JsonlLogger", "MetricsLogger", "MlflowLogger", "MultiLogger", "read_jsonl_metrics"]


class MetricsLogger(Protocol):
    def log(self, step: int, metrics: Mapping[str, float]) -> None: ...

    def last_step(self) -> int:
        """The highest step already logged (-1 if none)."""
        ...


class JsonlLogger:
    """One JSON object a line: ``{"step": N, ...metrics}``. Appends; safe to reopen after a crash."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._last = max((int(r["step"]) for r in read_jsonl_metrics(self.path)), default=-1)

    def log(self, step: int, metrics: Mapping[str, float]) -> None:
        row = {"step": step, **{k: (None if math.isnan(v) else v) for k, v in metrics.items()}}
        with self.path.open("a") as f:
            f.write(json.dumps(row) + "\n")
        self._last = max(self._last, step)

    def last_step(self) -> int:
        return self._last


def read_jsonl_metrics(path: str | Path) -> list[dict[str, float]]:
    """Rows of a metrics file; a torn last line (the process was killed mid-write) is ignored."""
    path = Path(path)
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


class MlflowLogger:
    """Logs to an MLflow run (created if ``run_id`` is None) in the current tracking URI."""

    def __init__(self, experiment: str, run_name: str | None = None, run_id: str | None = None) -> None:
        import mlflow

        self._mlflow = mlflow
        self._client = mlflow.MlflowClient()
        if run_id is None:
            exp = mlflow.set_experiment(experiment)
            run_id = self._client.create_run(exp.experiment_id, run_name=run_name).info.run_id
        self.run_id = run_id
        run = self._client.get_run(run_id)
        # Read once: the highest step of any key is where a resumed run continues.
        histories = (self._client.get_metric_history(run_id, key) for key in run.data.metrics)
        self._last = max((m.step for history in histories for m in history), default=-1)

    def log(self, step: int, metrics: Mapping[str, float]) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        batch = [Metric(k, float(v), now, step) for k, v in metrics.items() if not math.isnan(v)]
        self._client.log_batch(self.run_id, metrics=batch)
        self._last = max(self._last, step)

    def last_step(self) -> int:
        return self._last


class MultiLogger:
    def __init__(self, loggers: Sequence[MetricsLogger]) -> None:
        self.loggers = list(loggers)

    def log(self, step: int, metrics: Mapping[str, float]) -> None:
        for logger in self.loggers:
            if step > logger.last_step():
                logger.log(step, metrics)

    def last_step(self) -> int:
        return min((lg.last_step() for lg in self.loggers), default=-1)
