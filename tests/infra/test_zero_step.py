"""Slow tier: one real single-process ZeRO-2 optimisation step on the CPU with the project's config (gloo)."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_single_process_zero2_step_updates_the_model(monkeypatch: pytest.MonkeyPatch) -> None:
    import deepspeed

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    for key, value in {
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(port),
        "RANK": "0",
        "WORLD_SIZE": "1",
        "LOCAL_RANK": "0",
    }.items():
        monkeypatch.setenv(key, value)
    config = json.loads((ROOT / "infra" / "deepspeed" / "zero2.json").read_text())
    config.update(
        {
            "train_micro_batch_size_per_gpu": 2,
            "gradient_accumulation_steps": 1,
            "bf16": {"enabled": False},
            "zero_allow_untested_optimizer": True,
        }
    )
    deepspeed.init_distributed(dist_backend="gloo")
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 1))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    engine, *_ = deepspeed.initialize(model=model, optimizer=optimizer, config=config)
    before = [p.detach().clone() for p in engine.module.parameters()]
    loss = engine(torch.randn(2, 8)).pow(2).mean()
    engine.backward(loss)
    engine.step()
    assert engine.zero_optimization_stage() == 2
    assert any(not torch.equal(b, p) for b, p in zip(before, engine.module.parameters(), strict=True))
