"""Frozen, validated training configs. YAML maps 1:1 onto them (``from_dict`` rejects unknown keys).

Defaults are the paper's where published (GOT-R1-FACTS.md sections 4-5) and documented choices where not; the
``tiny()`` presets are the embedded default (synthetic world, tiny Janus, 2-core CPU): the same configs made smaller.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, TypeVar

from gotr1.rewards import RewardConfig
from gotr1.training.grpo_math import LOSS_AGGREGATIONS

__all__ = ["GRPOConfig", "SFTConfig", "config_from_dict"]

T = TypeVar("T")


def config_from_dict(cls: type[T], data: dict[str, Any]) -> T:
    """Build a config dataclass from a mapping; unknown keys are an error that names them and the class."""
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"{cls.__name__}: unknown keys {unknown}; known: {sorted(names)}")
    kwargs = dict(data)
    if "reward" in kwargs and isinstance(kwargs["reward"], dict):
        kwargs["reward"] = RewardConfig(**kwargs["reward"])
    return cls(**kwargs)


def _preset(cls: type[T], base: dict[str, Any], overrides: dict[str, Any]) -> T:
    """A preset with overrides, unknown override keys named in the error."""
    return config_from_dict(cls, {**base, **overrides})


def _positive(name: str, value: float) -> None:
    if value <= 0:
        raise ValueError(f"{name} must be > 0, got {value}")


@dataclass(frozen=True)
class SFTConfig:
    """Stage 1: supervised warm-up on GoT chains and images.

    The GoT paper's recipe (lr 1e-4 cosine, 500 warm-up, AdamW (0.9, 0.98, eps 1e-6), weight decay 0.05) is the
    default; GoT-R1 fine-tunes Janus-Pro with LoRA r = alpha = 32 for 70,000 steps (batch not published).
    """

    steps: int = 70_000
    batch_size: int = 128
    learning_rate: float = 1e-4
    warmup_steps: int = 500
    weight_decay: float = 0.05
    adam_betas: tuple[float, float] = (0.9, 0.98)
    adam_eps: float = 1e-6
    grad_accumulation: int = 1
    max_grad_norm: float = 1.0
    lora_rank: int = 32  # 0 = full fine-tuning
    lora_alpha: int = 32
    # Janus trains its CFG unconditional branch by replacing prompt + reasoning with padding on some rows.
    condition_dropout: float = 0.1
    chain_loss_weight: float = 1.0
    image_loss_weight: float = 1.0
    checkpoint_every: int = 1000
    log_every: int = 10
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "grad_accumulation", "checkpoint_every", "log_every"):
            _positive(name, getattr(self, name))
        _positive("learning_rate", self.learning_rate)
        if self.warmup_steps < 0 or self.lora_rank < 0:
            raise ValueError("warmup_steps and lora_rank must be >= 0")
        if not 0.0 <= self.condition_dropout < 1.0:
            raise ValueError(f"condition_dropout must be in [0, 1), got {self.condition_dropout}")
        object.__setattr__(self, "adam_betas", tuple(self.adam_betas))

    @classmethod
    def tiny(cls, **overrides: Any) -> SFTConfig:
        """Embedded default: full training of a tiny Janus from scratch (LoRA makes no sense without a base)."""
        base: dict[str, Any] = dict(
            steps=600,
            batch_size=32,
            learning_rate=3e-3,
            warmup_steps=30,
            weight_decay=0.01,
            lora_rank=0,
            condition_dropout=0.15,
            checkpoint_every=100,
            log_every=10,
        )
        return _preset(cls, base, overrides)


@dataclass(frozen=True)
class GRPOConfig:
    """Stage 2: GRPO with the dual-stage rewards (GOT-R1-FACTS.md section 4).

    Published: group 16, lr 1e-5 cosine, 1,000 steps, LoRA r = alpha = 32, temperatures 1.0, CFG 5, reasoning AND
    image tokens trained, batch 8 (taken here as 8 prompts a step). Not published (documented choices): beta 0.01
    (T2I-R1's), clip epsilon 0.2 (PPO's), one inner iteration (T2I-R1), AdamW, no warm-up.
    """

    steps: int = 1000
    prompts_per_step: int = 8
    group_size: int = 16
    learning_rate: float = 1e-5
    warmup_steps: int = 0
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    beta: float = 0.01
    epsilon: float = 0.2
    epsilon_high: float | None = None
    inner_iterations: int = 1
    loss_aggregation: str = "grpo"
    scale_advantages_by_std: bool = True
    chain_weight: float = 1.0
    image_weight: float = 1.0
    lora_rank: int = 32  # 0 = full fine-tuning with a frozen reference copy
    lora_alpha: int = 32
    text_temperature: float = 1.0
    image_temperature: float = 1.0
    cfg_scale: float = 5.0
    max_chain_tokens: int = 600
    reward: RewardConfig = field(default_factory=RewardConfig)
    max_nonfinite_steps: int = 5
    checkpoint_every: int = 50
    seed: int = 0

    def __post_init__(self) -> None:
        if self.group_size < 2:
            raise ValueError(
                f"group_size must be >= 2 (advantages compare within a group), got {self.group_size}"
            )
        for name in ("steps", "prompts_per_step", "inner_iterations", "checkpoint_every", "max_chain_tokens"):
            _positive(name, getattr(self, name))
        _positive("learning_rate", self.learning_rate)
        if self.beta < 0 or not 0 < self.epsilon < 1:
            raise ValueError(
                f"beta must be >= 0 and epsilon in (0, 1), got beta={self.beta} epsilon={self.epsilon}"
            )
        if self.epsilon_high is not None and self.epsilon_high < self.epsilon:
            raise ValueError("epsilon_high must be >= epsilon")
        if self.loss_aggregation not in LOSS_AGGREGATIONS:
            raise ValueError(
                f"loss_aggregation must be one of {LOSS_AGGREGATIONS}, got {self.loss_aggregation!r}"
            )
        if self.chain_weight < 0 or self.image_weight < 0 or self.chain_weight + self.image_weight == 0:
            raise ValueError("span weights must be >= 0 and not both 0")
        if self.lora_rank < 0 or self.warmup_steps < 0 or self.max_nonfinite_steps < 0:
            raise ValueError("lora_rank, warmup_steps and max_nonfinite_steps must be >= 0")

    @property
    def rollouts_per_step(self) -> int:
        return self.prompts_per_step * self.group_size

    @classmethod
    def tiny(cls, **overrides: Any) -> GRPOConfig:
        """Embedded default: group 8 x 8 prompts a step on a CPU, full fine-tuning of the tiny model."""
        base: dict[str, Any] = dict(
            steps=100,
            prompts_per_step=8,
            group_size=8,
            learning_rate=2e-4,
            beta=0.04,
            lora_rank=0,
            cfg_scale=3.0,
            max_chain_tokens=96,
            checkpoint_every=20,
        )
        return _preset(cls, base, overrides)
