"""A fresh ZenML store and MLflow database for the integration tier (all under a temporary folder)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def zenml_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("zenml-project")
    old_cwd = Path.cwd()
    env = {
        "ZENML_CONFIG_PATH": str(root / "zenml"),
        "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}",
        "GOTR1_WORK_DIR": str(root / "work"),
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    os.chdir(root)
    from zenml.client import Client

    Client.initialize(root)
    yield root
    os.chdir(old_cwd)
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
