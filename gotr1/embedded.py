"""The embedded default: the synthetic world, the tiny Janus policy and the verifier judge on a CPU.

One frozen config holds every dial; ``EmbeddedConfig.smoke()`` is the same config made smaller for tests. The
functions here turn it into training data, RL prompts, held-out specs and a fresh tiny policy, so that the
pipelines, the learning-evidence script and the tests all build the embedded default the same way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from gotr1.data.curation import tokens_from_text
from gotr1.models.janus import GenerationSettings, JanusPolicy, TinyJanusConfig
from gotr1.models.tokenizer import build_tokenizer
from gotr1.scenes.spec import COLORS, RELATIONS, SceneSpec
from gotr1.scenes.vocab import NUMBER_WORDS, plural
from gotr1.synthetic.world import WorldConfig, sample_dataset
from gotr1.training.config import GRPOConfig, SFTConfig, config_from_dict
from gotr1.training.grpo import PromptItem
from gotr1.training.sft import SFTExample

__all__ = [
    "EmbeddedConfig",
    "PromptItem",
    "eval_specs",
    "new_tiny_policy",
    "rl_prompts",
    "sft_examples",
    "world_vocabulary",
]

# Seed offsets keep the SFT data, the RL prompts and the held-out scenes disjoint streams of the world.
_SFT_STREAM, _RL_STREAM, _EVAL_STREAM = 0, 1_000, 2_000


@dataclass(frozen=True)
class EmbeddedConfig:
    """Every dial of the embedded default."""

    world: WorldConfig = field(default_factory=WorldConfig)
    model: TinyJanusConfig = field(default_factory=TinyJanusConfig)
    sft: SFTConfig = field(default_factory=SFTConfig.tiny)
    grpo: GRPOConfig = field(default_factory=GRPOConfig.tiny)
    sft_examples: int = 16_000
    rl_prompts: int = 4_000
    eval_prompts: int = 256
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("sft_examples", "rl_prompts", "eval_prompts"):
            if getattr(self, name) < 1:
                raise ValueError(f"EmbeddedConfig.{name} must be >= 1")

    @classmethod
    def smoke(cls, seed: int = 0) -> EmbeddedConfig:
        """The real config made small enough for the integration tests (seconds, not minutes)."""
        return cls(
            world=WorldConfig(grid_size=4, classes=("dog", "cat", "cup"), colors=("red", "blue")),
            model=TinyJanusConfig(hidden_size=32, num_layers=2, num_heads=2, intermediate_size=64),
            sft=SFTConfig.tiny(steps=4, batch_size=8, warmup_steps=1, checkpoint_every=2, log_every=1),
            grpo=GRPOConfig.tiny(
                steps=3, prompts_per_step=2, group_size=2, max_chain_tokens=40, checkpoint_every=2
            ),
            sft_examples=64,
            rl_prompts=16,
            eval_prompts=8,
            seed=seed,
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EmbeddedConfig:
        """From a YAML-style mapping: ``world``, ``model``, ``sft``, ``grpo`` sections and the sizes."""
        base = cls()
        sections = {"world", "model", "sft", "grpo", "policy", "judge"}
        kwargs: dict[str, Any] = {k: v for k, v in data.items() if k not in sections}
        known = {"sft_examples", "rl_prompts", "eval_prompts", "seed"}
        unknown = sorted(set(kwargs) - known)
        if unknown:
            raise ValueError(f"EmbeddedConfig: unknown keys {unknown}")
        return cls(
            world=WorldConfig.from_dict(data["world"]) if "world" in data else base.world,
            model=config_from_dict(TinyJanusConfig, data["model"]) if "model" in data else base.model,
            sft=SFTConfig.tiny(**data["sft"]) if "sft" in data else base.sft,
            grpo=GRPOConfig.tiny(**data["grpo"]) if "grpo" in data else base.grpo,
            **kwargs,
        )


def world_vocabulary(world: WorldConfig) -> list[str]:
    """Every word the world can put in a prompt, so held-out prompts never meet an unknown token."""
    words = [*world.class_names, *(plural(c) for c in world.class_names), *COLORS, *RELATIONS]
    words += [*NUMBER_WORDS.values(), "a photo of an and,"]
    return words


def sft_examples(config: EmbeddedConfig) -> list[SFTExample]:
    samples = sample_dataset(config.world, config.sft_examples, seed=config.seed + _SFT_STREAM)
    return [SFTExample(s.prompt, s.chain_text, s.grid.reshape(-1).tolist()) for s in samples]


def rl_prompts(config: EmbeddedConfig) -> list[PromptItem]:
    samples = sample_dataset(config.world, config.rl_prompts, seed=config.seed + _RL_STREAM)
    return [PromptItem(s.prompt, s.spec) for s in samples]


def eval_specs(config: EmbeddedConfig) -> list[SceneSpec]:
    return [
        s.spec for s in sample_dataset(config.world, config.eval_prompts, seed=config.seed + _EVAL_STREAM)
    ]


def new_tiny_policy(config: EmbeddedConfig, corpus: list[str]) -> JanusPolicy:
    """A fresh tiny Janus whose tokenizer covers ``corpus`` and the world's vocabulary."""
    tokenizer = build_tokenizer([*corpus, *world_vocabulary(config.world)])
    generation = GenerationSettings(
        max_chain_tokens=config.grpo.max_chain_tokens,
        text_temperature=config.grpo.text_temperature,
        image_temperature=config.grpo.image_temperature,
        cfg_scale=config.grpo.cfg_scale,
    )
    return JanusPolicy.tiny(tokenizer, config.world.codec(), config.model, generation, seed=config.seed)


def prompt_frame(items: list[PromptItem]) -> pd.DataFrame:
    """Prompts (with their GenEval scene specs) as a DataFrame artifact: columns ``prompt``, ``spec_json``."""
    return pd.DataFrame(
        {
            "prompt": [it.prompt for it in items],
            "spec_json": [json.dumps(it.spec.to_geneval()) if it.spec else "" for it in items],
        }
    )


def prompt_items(frame: pd.DataFrame) -> list[PromptItem]:
    """The inverse of :func:`prompt_frame`."""
    return [
        PromptItem(str(p), SceneSpec.from_geneval(json.loads(s)) if s else None)
        for p, s in zip(frame["prompt"], frame["spec_json"], strict=True)
    ]


def sft_examples_from_frame(frame: pd.DataFrame) -> list[SFTExample]:
    """Curated records with inline image tokens as SFT examples."""
    return [
        SFTExample(str(p), str(c), tokens_from_text(t))
        for p, c, t in zip(frame["prompt"], frame["chain"], frame["image_tokens"], strict=True)
    ]
