"""Which policy and judge a run uses: the embedded default (tiny Janus, verifier judge), full scale (Janus-Pro,
an MLLM judge served over HTTP or run in-process), or the planner + executor family. Plain mappings from the
pipeline config map onto these."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from gotr1.embedded import EmbeddedConfig, generation_settings, new_tiny_policy, world_vocabulary
from gotr1.judges.base import Judge
from gotr1.models.base import ImageCodec
from gotr1.models.executors import Executor, WorldPainter, executor_from_dict
from gotr1.models.janus import JanusPolicy
from gotr1.models.janus_pro import load_janus_pro
from gotr1.models.planner import PlannerPolicy
from gotr1.models.tokenizer import build_tokenizer
from gotr1.synthetic.world import WorldConfig

__all__ = [
    "JudgeSpec",
    "PolicySpec",
    "build_judge",
    "initial_policy",
    "load_policy",
    "load_trained_policy",
]


def _from(cls: Any, data: dict[str, Any] | None) -> Any:
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(data or {}) - names)
    if unknown:
        raise ValueError(f"{cls.__name__}: unknown keys {unknown}; known: {sorted(names)}")
    return cls(**(data or {}))


@dataclass(frozen=True)
class PolicySpec:
    """Which policy a run trains.

    Kinds and the fields each reads:

    - ``tiny`` (the embedded default): a tiny Janus built from ``config.model`` and trained from scratch by SFT.
    - ``janus_pro``: Janus-Pro from ``path`` (a local folder or a hub id, transformers format), with LoRA
      ``lora_rank``/``lora_alpha`` in ``dtype``. SFT runs on it when the pipeline is given GoT records
      (``got_records``, images VQ-encoded from their files); without records GRPO starts from ``path`` as is.
    - ``planner``: a causal-LM planner that writes the chain and a frozen ``executor`` that draws it. ``path``:
      a pretrained causal LM (LoRA as above); no ``path``: a tiny Llama from ``config.model``, trained from
      scratch by SFT. ``executor``: ``{kind: world}`` (the synthetic world's painter, the default) or
      ``{kind: gligen, path: ..., num_inference_steps: ..., ...}`` (diffusers' GLIGEN,
      :class:`gotr1.models.executors.GLIGENExecutor`).

    Unknown keys are an error (:meth:`from_dict`).
    """

    kind: str = "tiny"
    path: str | None = None
    lora_rank: int = 32
    lora_alpha: int = 32
    dtype: str = "bfloat16"
    executor: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        kinds = ("tiny", "janus_pro", "planner")
        if self.kind not in kinds:
            raise ValueError(f"policy.kind must be one of {kinds}, got {self.kind!r}")
        if self.kind == "janus_pro" and not self.path:
            raise ValueError("policy.path is required for kind 'janus_pro' (a local folder or a hub id)")
        if self.executor is not None and self.kind != "planner":
            raise ValueError(f"policy.executor applies to kind 'planner' only, not {self.kind!r}")
        if self.kind == "planner":
            executor = self.executor or {"kind": "world"}
            if executor.get("kind") not in ("world", "gligen"):
                raise ValueError(
                    f"policy.executor.kind must be 'world' or 'gligen', got {executor.get('kind')!r}"
                )
            if executor["kind"] == "gligen" and not executor.get("path"):
                raise ValueError(
                    "policy.executor.path is required for the 'gligen' executor (a folder or hub id)"
                )
            if executor["kind"] != "world" and not self.path:
                raise ValueError(
                    "a planner without policy.path is a tiny model trained from scratch in the synthetic world: "
                    "its executor must be the world's painter (kind 'world')"
                )
        if not isinstance(getattr(torch, self.dtype, None), torch.dtype):
            raise ValueError(f"policy.dtype must name a torch dtype such as 'bfloat16', got {self.dtype!r}")

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> PolicySpec:
        spec: PolicySpec = _from(cls, data)
        return spec

    @property
    def in_world(self) -> bool:
        """Draws in the synthetic world (the tiny Janus, or a planner with the world's painter): the world's GoT
        records are training data for it and its images are grid tokens the verifier judges."""
        return self.kind == "tiny" or (
            self.kind == "planner" and (self.executor or {"kind": "world"})["kind"] == "world"
        )

    @property
    def trained_from_scratch(self) -> bool:
        """Built from a config (tiny Janus, tiny planner): it needs SFT before GRPO means anything."""
        return self.kind == "tiny" or (self.kind == "planner" and not self.path)


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


def _device() -> str | None:
    """This process's GPU: ``cuda:$LOCAL_RANK`` under ``accelerate launch`` (each process loads onto its own
    device, not all onto the first), None without CUDA."""
    if not torch.cuda.is_available():
        return None
    return f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"


def load_policy(spec: PolicySpec, config: EmbeddedConfig | None = None) -> JanusPolicy | PlannerPolicy:
    """The pretrained policy named by ``spec`` (Janus-Pro, or a planner from ``path``), ready to train.

    ``config`` gives the sampling settings (``config.grpo``; default: the checkpoint's or the paper's) and, for a
    planner drawing with the world's painter, the world (default: :class:`EmbeddedConfig`'s).

    Raises:
        ValueError: ``spec`` names a policy trained from scratch (build it with :func:`initial_policy`).
    """
    if spec.trained_from_scratch:
        raise ValueError(
            f"policy kind {spec.kind!r} without a path is trained from scratch: build it with initial_policy "
            "(the SFT step does) or start GRPO from an SFT checkpoint"
        )
    assert spec.path is not None
    dtype = getattr(torch, spec.dtype)
    generation = None if config is None else generation_settings(config, guidance=spec.kind != "planner")
    if spec.kind == "janus_pro":
        return load_janus_pro(spec.path, spec.lora_rank, spec.lora_alpha, dtype, generation, device=_device())
    model = AutoModelForCausalLM.from_pretrained(spec.path, dtype=dtype)
    if _device():
        model.to(_device())
    world = (config or EmbeddedConfig()).world
    planner = PlannerPolicy(
        model, AutoTokenizer.from_pretrained(spec.path), _executor(spec, world), generation
    )
    if spec.lora_rank:
        planner.add_lora(spec.lora_rank, spec.lora_alpha)
    return planner


def _executor(spec: PolicySpec, world: WorldConfig) -> Executor:
    if spec.in_world:
        return WorldPainter(world.codec())
    return executor_from_dict(dict(spec.executor or {}), device=_device(), dtype=getattr(torch, spec.dtype))


def initial_policy(
    spec: PolicySpec, config: EmbeddedConfig, corpus: Sequence[str]
) -> JanusPolicy | PlannerPolicy:
    """The policy SFT starts from: built from ``config`` (the kinds trained from scratch; the tokenizer covers
    ``corpus`` and the world's words) or loaded (:func:`load_policy`)."""
    if spec.kind == "tiny":
        return new_tiny_policy(config, list(corpus))
    if not spec.trained_from_scratch:
        return load_policy(spec, config)
    tokenizer = build_tokenizer([*corpus, *world_vocabulary(config.world)])
    generation = generation_settings(config, guidance=False)
    return PlannerPolicy.tiny(
        tokenizer, _executor(spec, config.world), config.model, generation, seed=config.seed
    )


def load_trained_policy(path: str | Path, **model_kwargs: Any) -> JanusPolicy | PlannerPolicy:
    """A checkpoint that gotr1's trainers wrote (:meth:`save_pretrained` of either policy family), as the class
    that wrote it: a planner checkpoint has ``planner.json``; anything else is a Janus policy."""
    if (Path(path) / "planner.json").is_file():
        return PlannerPolicy.from_pretrained(path, **model_kwargs)
    return JanusPolicy.from_pretrained(path, **model_kwargs)
