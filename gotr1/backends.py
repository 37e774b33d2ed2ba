"""Which policy and judge a run uses: the embedded default (tiny Janus, verifier judge) or full scale
(Janus-Pro, an MLLM judge served over HTTP or run in-process). Plain mappings from the pipeline config map onto
these."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import torch

from gotr1.judges.base import Judge
from gotr1.models.base import ImageCodec
from gotr1.models.janus import JanusPolicy

__all__ = ["JudgeSpec", "PolicySpec", "build_judge", "load_policy"]


def _from(cls: Any, data: dict[str, Any] | None) -> Any:
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(data or {}) - names)
    if unknown:
        raise ValueError(f"{cls.__name__}: unknown keys {unknown}; known: {sorted(names)}")
    return cls(**(data or {}))


@dataclass(frozen=True)
class PolicySpec:
    """``tiny``: trained from scratch by the SFT step. ``janus_pro``: loaded from ``path`` (local or hub id)."""

    kind: str = "tiny"
    path: str | None = None
    lora_rank: int = 32
    lora_alpha: int = 32
    dtype: str = "bfloat16"

    def __post_init__(self) -> None:
        if self.kind not in ("tiny", "janus_pro"):
            raise ValueError(f"policy.kind must be 'tiny' or 'janus_pro', got {self.kind!r}")
        if self.kind == "janus_pro" and not self.path:
            raise ValueError("policy.path is required for kind 'janus_pro' (a local folder or a hub id)")

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> PolicySpec:
        spec: PolicySpec = _from(cls, data)
        return spec


@dataclass(frozen=True)
class JudgeSpec:
    """Which judge scores the rollouts.

    Kinds and the fields each reads:

    - ``verifier``: exact scores from the synthetic world's scene specs (no fields).
    - ``http``: GoT-R1's MLLM judge served by an OpenAI-compatible server (vLLM): ``base_url`` (required),
      ``model``, ``api_key_env`` (the name of the variable holding the key, never the key), ``timeout_s``,
      ``max_retries``, ``max_concurrency``.
    - ``qwen_local``: the same judge with Qwen2.5-VL run in this process by transformers
      (:class:`gotr1.judges.qwen_local.QwenVLBackend`): ``path`` (required: a local folder or a hub id),
      ``device`` (``"cuda"``, ``"cuda:1"``, ``"cpu"``; default CUDA when available), ``batch_size`` (requests per
      ``generate`` call), ``max_new_tokens`` (per reply).

    Unknown keys are an error (:meth:`from_dict`); numbers are checked here whatever the kind.
    """

    kind: str = "verifier"
    base_url: str | None = None
    model: str = "qwen2.5-vl-7b"
    api_key_env: str = "GOTR1_JUDGE_API_KEY"
    timeout_s: float = 60.0
    max_retries: int = 3
    max_concurrency: int = 16
    path: str | None = None
    device: str | None = None
    batch_size: int = 8
    max_new_tokens: int = 512

    def __post_init__(self) -> None:
        if self.kind not in ("verifier", "http", "qwen_local"):
            raise ValueError(f"judge.kind must be 'verifier', 'http' or 'qwen_local', got {self.kind!r}")
        if self.kind == "http" and not self.base_url:
            raise ValueError("judge.base_url is required for kind 'http'")
        if self.kind == "qwen_local" and not (isinstance(self.path, str) and self.path.strip()):
            raise ValueError(
                "judge.path is required for kind 'qwen_local' (a local folder or a hub id of a Qwen2.5-VL "
                f"checkpoint), got {self.path!r}"
            )
        for name in ("batch_size", "max_new_tokens"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"judge.{name} must be an integer >= 1, got {value!r}")
        if self.device is not None:
            message = f"judge.device must name a torch device such as 'cuda', 'cuda:1' or 'cpu', got {self.device!r}"
            if not isinstance(self.device, str):
                raise ValueError(message)
            try:
                torch.device(self.device)
            except RuntimeError as err:
                raise ValueError(message) from err

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> JudgeSpec:
        spec: JudgeSpec = _from(cls, data)
        return spec


def build_judge(spec: JudgeSpec, codec: ImageCodec) -> Judge:
    if spec.kind == "verifier":
        from gotr1.judges.verifier import VerifierJudge
        from gotr1.synthetic.codec import GridCodec

        if not isinstance(codec, GridCodec):
            raise ValueError(
                "the verifier judge scores synthetic-world images; use judge.kind 'http' or 'qwen_local' at "
                "full scale"
            )
        return VerifierJudge(codec)
    from gotr1.judges.mllm import MLLMJudge

    if spec.kind == "qwen_local":
        from gotr1.judges.qwen_local import QwenVLBackend

        assert spec.path is not None
        backend = QwenVLBackend(
            spec.path, device=spec.device, batch_size=spec.batch_size, max_new_tokens=spec.max_new_tokens
        )
        return MLLMJudge(backend, to_pil=codec.to_pil)
    from gotr1.judges.http import HTTPJudgeConfig, OpenAIChatBackend

    assert spec.base_url is not None
    config = HTTPJudgeConfig(
        spec.base_url,
        spec.model,
        spec.api_key_env,
        spec.timeout_s,
        spec.max_retries,
        max_concurrency=spec.max_concurrency,
    )
    return MLLMJudge(OpenAIChatBackend(config), to_pil=codec.to_pil)


def load_policy(spec: PolicySpec) -> JanusPolicy:
    """The full-scale policy named by ``spec`` (the tiny one is built by the SFT step instead)."""
    if spec.kind != "janus_pro":
        raise ValueError("load_policy loads Janus-Pro; the tiny policy comes from the SFT step")
    from gotr1.models.janus_pro import load_janus_pro

    assert spec.path is not None
    device = "cuda" if torch.cuda.is_available() else None
    return load_janus_pro(
        spec.path, spec.lora_rank, spec.lora_alpha, getattr(torch, spec.dtype), device=device
    )
