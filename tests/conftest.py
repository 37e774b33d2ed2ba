"""Test-wide guards: offline, quiet, and nothing written outside temporary directories.

- Every library that keeps state (ZenML, MLflow, Hugging Face, matplotlib, Great Expectations) is pointed at a
  session temporary directory before anything imports it.
- Sockets may only connect to loopback: a test that reaches the network fails loudly.
- Hypothesis keeps no example database on disk.
"""

from __future__ import annotations

import atexit
import ipaddress
import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

_STATE = Path(tempfile.mkdtemp(prefix="gotr1-tests-"))
atexit.register(shutil.rmtree, _STATE, ignore_errors=True)
_ENV = {
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HOME": str(_STATE / "hf"),
    "ZENML_ANALYTICS_OPT_IN": "false",
    "ZENML_CONFIG_PATH": str(_STATE / "zenml-config"),
    "ZENML_LOGGING_VERBOSITY": "WARN",
    "GX_ANALYTICS_ENABLED": "false",
    "MLFLOW_TRACKING_URI": f"sqlite:///{_STATE / 'mlflow.db'}",
    "MPLCONFIGDIR": str(_STATE / "matplotlib"),
    "MPLBACKEND": "Agg",
    "TOKENIZERS_PARALLELISM": "false",
    "XDG_CACHE_HOME": str(_STATE / "cache"),
    "TRITON_CACHE_DIR": str(_STATE / "triton"),
}
os.environ.update(_ENV)

settings.register_profile("gotr1", database=None, deadline=None, print_blob=True)
settings.load_profile("gotr1")

_real_connect = socket.socket.connect


def _is_loopback(address: object) -> bool:
    if isinstance(address, tuple) and address:
        host = str(address[0])
        if host in ("localhost", ""):
            return True
        try:
            return ipaddress.ip_address(host.split("%")[0]).is_loopback
        except ValueError:
            return False
    return isinstance(address, str | bytes)  # AF_UNIX paths are local


def _guarded_connect(self: socket.socket, address: object) -> None:
    if not _is_loopback(address):
        raise RuntimeError(f"tests must not use the network: connect({address!r}) refused")
    _real_connect(self, address)  # type: ignore[arg-type]


@pytest.fixture(autouse=True, scope="session")
def _no_network() -> Iterator[None]:
    socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
    yield
    socket.socket.connect = _real_connect  # type: ignore[method-assign]


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` beside the project (public prompt sets); tests that need it skip without it."""
    path = Path(__file__).resolve().parents[1].parent / "shared" / "data"
    if not path.is_dir():
        pytest.skip(f"public prompt sets not found at {path}")
    return path
