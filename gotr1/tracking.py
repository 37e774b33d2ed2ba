"""Metrics logging for the trainers: a JSONL file, MLflow, or both.

Every logger knows the last step it holds and refuses a step at or below it, so a resumed run never logs a
step twice: the trainers log only steps above :meth:`MetricsLogger.last_step` (a run killed after logging steps
past its last checkpoint replays them deterministically and does not log them again). ZenML's experiment
tracker is configured by the pipeline steps; inside gotr1 MLflow is used directly.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

__all__ = ["JsonlLogger", "MetricsLogger", "MlflowLogger", "MultiLogger", "read_jsonl_metrics"]


@runtime_checkable
class MetricsLogger(Protocol):
    """Where the trainers' per-step metrics go."""

    def log(self, step: int, metrics: Mapping[str, float]) -> None:
        """Record ``metrics`` at ``step``; a step at or below :meth:`last_step` is an error."""
        ...

    def last_step(self) -> int:
        """The highest step already logged (-1 if none)."""
        ...


def _check_step(logger: MetricsLogger, step: int) -> None:
    if step <= logger.last_step():
        raise ValueError(
            f"{type(logger).__name__}: step {step} is not after the last logged step {logger.last_step()}; "
            "a metric step is never logged twice"
        )


class JsonlLogger:
    """One JSON object a line: ``{"step": N, ...metrics}`` (NaN written as null). Appends; safe to reopen after
    a crash: a torn last line is dropped."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            # A process killed mid-write leaves a torn last line: drop it, or the next row would join it.
            text = self.path.read_text()
            if text and not text.endswith("\n"):
                self.path.write_text(text[: text.rfind("\n") + 1])
        self._last = max((int(r["step"]) for r in read_jsonl_metrics(self.path)), default=-1)

    def log(self, step: int, metrics: Mapping[str, float]) -> None:
        _check_step(self, step)
        row = {"step": step, **{k: (None if math.isnan(v) else float(v)) for k, v in metrics.items()}}
        with self.path.open("a") as f:
            f.write(json.dumps(row) + "\n")
        self._last = step

    def last_step(self) -> int:
        return self._last


def read_jsonl_metrics(path: str | Path) -> list[dict[str, float]]:
    """Rows of a metrics file (``[]`` if it does not exist); a torn last line is ignored."""
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
    """Logs to an MLflow run in the current tracking URI: a new run in ``experiment``, or the run ``run_id``
    (a resumed training continues its run). NaN values are not logged (MLflow rejects them)."""

    def __init__(self, experiment: str, run_name: str | None = None, run_id: str | None = None) -> None:
        import mlflow

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

        _check_step(self, step)
        now = int(time.time() * 1000)
        batch = [Metric(k, float(v), now, step) for k, v in metrics.items() if not math.isnan(v)]
        self._client.log_batch(self.run_id, metrics=batch)
        self._last = step

    def last_step(self) -> int:
        return self._last

    def close(self, status: str = "FINISHED") -> None:
        """Mark the run ended (``FINISHED``, ``FAILED`` or ``KILLED``)."""
        self._client.set_terminated(self.run_id, status)


class MultiLogger:
    """Several loggers as one; a step goes to each logger that does not hold it yet (they may have been
    killed at different points)."""

    def __init__(self, loggers: Sequence[MetricsLogger]) -> None:
        self.loggers = list(loggers)

    def log(self, step: int, metrics: Mapping[str, float]) -> None:
        for logger in self.loggers:
            if step > logger.last_step():
                logger.log(step, metrics)

    def last_step(self) -> int:
        return min((lg.last_step() for lg in self.loggers), default=-1)
