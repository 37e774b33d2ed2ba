"""Frozen, validated training configs. YAML maps 1:1 onto them (:func:`config_from_dict` rejects unknown keys).

Defaults are the paper's where published (GOT-R1-FACTS.md sections 4-5) and documented choices where not; every
field's ``help`` metadata says which, and why. The ``tiny()`` presets are the embedded default (synthetic world,
tiny Janus trained from scratch, 2-core CPU): the same configs made smaller, each change measured in the
learning-evidence runs (``scripts/learning_evidence.py``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, TypeVar

from gotr1.rewards import RewardConfig
from gotr1.training.grpo_math import CHAIN_ADVANTAGES, LOSS_AGGREGATIONS

__all__ = ["AUTOCAST_KINDS", "GRPOConfig", "SFTConfig", "config_from_dict", "config_to_dict"]

T = TypeVar("T")
AUTOCAST_KINDS: tuple[str, ...] = ("bf16", "fp32")


def _f(default: Any, help: str) -> Any:
    return field(default=default, metadata={"help": help})


def config_from_dict(cls: type[T], data: dict[str, Any]) -> T:
    """Build a config dataclass from a YAML-style mapping.

    Raises:
        ValueError: unknown keys (named, with the known ones), or a field's own validation error.
    """
    if not isinstance(data, dict):
        raise ValueError(f"{cls.__name__}: expected a mapping, got {type(data).__name__}")
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"{cls.__name__}: unknown keys {unknown}; known: {sorted(names)}")
    kwargs = dict(data)
    if isinstance(kwargs.get("reward"), dict):
        kwargs["reward"] = config_from_dict(RewardConfig, kwargs["reward"])
    if isinstance(kwargs.get("adam_betas"), list):
        kwargs["adam_betas"] = tuple(kwargs["adam_betas"])
    return cls(**kwargs)


def config_to_dict(config: Any) -> dict[str, Any]:
    """The inverse of :func:`config_from_dict` (plain values, YAML/JSON-ready)."""
    out = dataclasses.asdict(config)
    return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}


def _check(ok: bool, cls: str, message: str) -> None:
    if not ok:
        raise ValueError(f"{cls}.{message}")


@dataclass(frozen=True)
class SFTConfig:
    """Stage 1: supervised warm-up on GoT chains and images (GOT-R1-FACTS.md section 5)."""

    steps: int = _f(70_000, "optimizer steps; GoT-R1 fine-tunes Janus-Pro for 70,000 steps")
    batch_size: int = _f(128, "examples per micro-batch; the GoT paper's batch 128")
    grad_accumulation: int = _f(1, "micro-batches per optimizer step")
    learning_rate: float = _f(1e-4, "peak learning rate; the GoT paper's 1e-4 (GoT-R1's is not published)")
    warmup_steps: int = _f(500, "linear warm-up steps before the cosine decay; the GoT paper's 500")
    weight_decay: float = _f(0.05, "AdamW weight decay; the GoT paper's 0.05")
    adam_betas: tuple[float, float] = _f((0.9, 0.98), "AdamW betas; the GoT paper's (0.9, 0.98)")
    adam_eps: float = _f(1e-6, "AdamW epsilon; the GoT paper's 1e-6")
    max_grad_norm: float = _f(1.0, "gradient clipping norm (not published; the common 1.0)")
    lora_rank: int = _f(32, "LoRA rank, 0 = full fine-tuning; GoT-R1: r = 32")
    lora_alpha: int = _f(32, "LoRA alpha; GoT-R1: 32")
    condition_dropout: float = _f(
        0.1,
        "fraction of rows made unconditional (prompt and reasoning replaced by padding) so the CFG branch is "
        "trained, as Janus does (Janus-Pro drops 10%); those rows train the image span only",
    )
    chain_loss_weight: float = _f(1.0, "weight of the chain cross-entropy (text head)")
    image_loss_weight: float = _f(1.0, "weight of the image-token cross-entropy (image head)")
    autocast: str = _f("bf16", "training forward precision: bf16 autocast or fp32 (rollouts are always fp32)")
    checkpoint_every: int = _f(1000, "steps between resumable checkpoints")
    log_every: int = _f(10, "steps between logged metrics")
    seed: int = _f(0, "data order and condition-dropout seed")

    def __post_init__(self) -> None:
        name = type(self).__name__
        for key in ("steps", "batch_size", "grad_accumulation", "checkpoint_every", "log_every"):
            _check(getattr(self, key) >= 1, name, f"{key} must be >= 1, got {getattr(self, key)}")
        _check(self.learning_rate > 0, name, f"learning_rate must be > 0, got {self.learning_rate}")
        _check(self.warmup_steps >= 0, name, f"warmup_steps must be >= 0, got {self.warmup_steps}")
        _check(self.lora_rank >= 0, name, f"lora_rank must be >= 0 (0 = full), got {self.lora_rank}")
        _check(
            0.0 <= self.condition_dropout < 1.0,
            name,
            f"condition_dropout must be in [0, 1), got {self.condition_dropout}",
        )
        _check(
            min(self.chain_loss_weight, self.image_loss_weight) >= 0
            and self.chain_loss_weight + self.image_loss_weight > 0,
            name,
            "chain_loss_weight and image_loss_weight must be >= 0 and not both 0",
        )
        _check(self.autocast in AUTOCAST_KINDS, name, f"autocast must be one of {AUTOCAST_KINDS}")
        _check(len(self.adam_betas) == 2, name, f"adam_betas must be two floats, got {self.adam_betas}")
        object.__setattr__(self, "adam_betas", tuple(float(b) for b in self.adam_betas))

    @classmethod
    def tiny(cls, **overrides: Any) -> SFTConfig:
        """Embedded default: a tiny Janus trained from scratch (full training: LoRA needs a pretrained base).

        A short warm-up on purpose: the SFT model should be clearly imperfect when sampled at temperature 1.0,
        as the paper's SFT model is, so GRPO has headroom (measured in the learning-evidence runs).
        """
        base: dict[str, Any] = dict(
            steps=200,
            batch_size=32,
            learning_rate=3e-3,
            warmup_steps=20,
            weight_decay=0.01,
            adam_betas=(0.9, 0.98),
            lora_rank=0,
            condition_dropout=0.15,
            checkpoint_every=100,
            log_every=10,
        )
        return config_from_dict(cls, {**base, **overrides})


@dataclass(frozen=True)
class GRPOConfig:
    """Stage 2: GRPO with GoT-R1's dual-stage rewards (GOT-R1-FACTS.md section 4)."""

    steps: int = _f(1000, "optimizer steps (outer GRPO steps); GoT-R1: 1,000")
    prompts_per_step: int = _f(
        8, "prompts B a step; GoT-R1's batch 8 (whether prompts or samples is not said)"
    )
    group_size: int = _f(16, "samples G per prompt (one chain + one image each); GoT-R1: 16")
    micro_batch_size: int = _f(
        0, "rollouts per forward/backward pass (gradients accumulate over them); 0 = the whole B * G batch"
    )
    learning_rate: float = _f(1e-5, "peak learning rate, cosine decay; GoT-R1: 1e-5 cosine")
    warmup_steps: int = _f(0, "linear warm-up steps (not published; none)")
    weight_decay: float = _f(0.0, "AdamW weight decay (not published; none)")
    adam_betas: tuple[float, float] = _f((0.9, 0.999), "AdamW betas (not published; PyTorch's defaults)")
    max_grad_norm: float = _f(1.0, "gradient clipping norm (not published; the common 1.0)")
    beta: float = _f(0.01, "KL coefficient to the reference (not published; T2I-R1's 0.01)")
    epsilon: float = _f(0.2, "clip range of the ratio (not published; PPO's 0.2)")
    epsilon_high: float | None = _f(None, "upper clip range (DAPO's clip-higher); None = epsilon")
    inner_iterations: int = _f(
        1, "mu: updates per rollout batch on its old log-probs (not published; T2I-R1 uses 1)"
    )
    loss_aggregation: str = _f("grpo", f"how token losses reduce: one of {LOSS_AGGREGATIONS}")
    scale_advantages_by_std: bool = _f(True, "divide advantages by the group std (GoT-R1's formula)")
    chain_advantage: str = _f(
        "total",
        "advantage of the reasoning tokens: 'total' (GoT-R1: the whole reward's, as the image tokens'), 'plan' (the "
        "plan-stage reward R_sem + R_spa's) or 'total+plan' (both added); the image tokens always take the total's",
    )
    chain_weight: float = _f(1.0, "weight of reasoning tokens in the loss; GoT-R1 trains both spans")
    image_weight: float = _f(1.0, "weight of image tokens in the loss; GoT-R1 trains both spans")
    lora_rank: int = _f(32, "LoRA rank, 0 = full fine-tuning with a frozen reference copy; GoT-R1: 32")
    lora_alpha: int = _f(32, "LoRA alpha; GoT-R1: 32")
    text_temperature: float = _f(1.0, "reasoning sampling temperature; GoT-R1: 1.0")
    image_temperature: float = _f(1.0, "image-token sampling temperature; GoT-R1: 1.0")
    cfg_scale: float = _f(5.0, "classifier-free guidance weight of image tokens; GoT-R1: 5")
    max_chain_tokens: int = _f(600, "reasoning budget in tokens; GoT-R1: 600")
    image_logprobs: str = _f(
        "conditional",
        "image-token log-probs for the ratio and KL: 'conditional' branch, or 'guided' (the CFG distribution "
        "sampled from; exactly on-policy). Not stated by GoT-R1: a documented choice",
    )
    reward: RewardConfig = field(
        default_factory=RewardConfig,
        metadata={"help": "reward combination; GoT-R1 README: R_PI * (R_sem + R_spa) * R_RI"},
    )
    autocast: str = _f("bf16", "training forward precision: bf16 autocast or fp32 (rollouts are always fp32)")
    max_nonfinite_steps: int = _f(5, "steps skipped for a non-finite loss or reward before the run stops")
    checkpoint_every: int = _f(50, "steps between resumable checkpoints")
    log_every: int = _f(1, "steps between logged metrics")
    seed: int = _f(0, "prompt order and sampling seed")

    def __post_init__(self) -> None:
        name = type(self).__name__
        _check(
            self.group_size >= 2,
            name,
            f"group_size must be >= 2 (advantages compare samples of one prompt), got {self.group_size}",
        )
        keys = ("steps", "prompts_per_step", "inner_iterations", "checkpoint_every", "max_chain_tokens")
        for key in (*keys, "log_every"):
            _check(getattr(self, key) >= 1, name, f"{key} must be >= 1, got {getattr(self, key)}")
        _check(
            self.micro_batch_size >= 0 and self.rollouts_per_step % max(self.micro_batch_size, 1) == 0,
            name,
            f"micro_batch_size must divide prompts_per_step * group_size = {self.rollouts_per_step} "
            f"(or be 0), got {self.micro_batch_size}",
        )
        _check(self.learning_rate > 0, name, f"learning_rate must be > 0, got {self.learning_rate}")
        _check(self.beta >= 0, name, f"beta must be >= 0, got {self.beta}")
        _check(0 < self.epsilon < 1, name, f"epsilon must be in (0, 1), got {self.epsilon}")
        _check(
            self.epsilon_high is None or self.epsilon_high >= self.epsilon,
            name,
            f"epsilon_high must be >= epsilon, got {self.epsilon_high}",
        )
        _check(
            self.loss_aggregation in LOSS_AGGREGATIONS,
            name,
            f"loss_aggregation must be one of {LOSS_AGGREGATIONS}, got {self.loss_aggregation!r}",
        )
        _check(
            self.chain_advantage in CHAIN_ADVANTAGES,
            name,
            f"chain_advantage must be one of {CHAIN_ADVANTAGES}, got {self.chain_advantage!r}",
        )
        _check(
            min(self.chain_weight, self.image_weight) >= 0 and self.chain_weight + self.image_weight > 0,
            name,
            "chain_weight and image_weight must be >= 0 and not both 0",
        )
        for key in ("lora_rank", "warmup_steps", "max_nonfinite_steps"):
            _check(getattr(self, key) >= 0, name, f"{key} must be >= 0, got {getattr(self, key)}")
        _check(
            self.text_temperature > 0 and self.image_temperature > 0,
            name,
            "temperatures must be > 0",
        )
        _check(self.cfg_scale >= 0, name, f"cfg_scale must be >= 0, got {self.cfg_scale}")
        _check(
            self.image_logprobs in ("conditional", "guided"),
            name,
            f"image_logprobs must be 'conditional' or 'guided', got {self.image_logprobs!r}",
        )
        _check(self.autocast in AUTOCAST_KINDS, name, f"autocast must be one of {AUTOCAST_KINDS}")
        _check(isinstance(self.reward, RewardConfig), name, "reward must be a RewardConfig or its mapping")
        object.__setattr__(self, "adam_betas", tuple(float(b) for b in self.adam_betas))

    @property
    def rollouts_per_step(self) -> int:
        """``B * G`` samples a step."""
        return self.prompts_per_step * self.group_size

    @classmethod
    def tiny(cls, **overrides: Any) -> GRPOConfig:
        """Embedded default: 8 prompts x group 8 a step on a CPU, full fine-tuning of the tiny model (its
        reference is a frozen copy), the chain budget of the world's longest chains (about 100 tokens)."""
        base: dict[str, Any] = dict(
            steps=100,
            prompts_per_step=8,
            group_size=8,
            learning_rate=2e-4,
            beta=0.04,
            lora_rank=0,
            cfg_scale=3.0,
            max_chain_tokens=112,
            checkpoint_every=20,
        )
        return config_from_dict(cls, {**base, **overrides})
