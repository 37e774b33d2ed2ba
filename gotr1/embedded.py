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

from gotr1.data.curation import curate, records_from_samples, tokens_from_text
from gotr1.models.base import ImageCodec
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
    "curated_data",
    "eval_specs",
    "generation_settings",
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


def curated_data(config: EmbeddedConfig) -> tuple[list[SFTExample], list[PromptItem]]:
    """What the pipelines' data stage makes of the world (:func:`gotr1.data.curation.curate`): the SFT examples
    and RL prompts with repeats dropped and every held-out prompt (:func:`eval_specs`) removed, so scripts measure
    what ``make run`` trains on."""
    held_out = [s.prompt for s in eval_specs(config)]
    samples = sample_dataset(config.world, config.sft_examples, seed=config.seed + _SFT_STREAM)
    curated = curate(
        records_from_samples(samples, "synthetic-world"), prompt_frame(rl_prompts(config)), held_out
    )
    return sft_examples_from_frame(curated.records, config.world.codec()), prompt_items(curated.rl_prompts)


def rl_prompts(config: EmbeddedConfig) -> list[PromptItem]:
    samples = sample_dataset(config.world, config.rl_prompts, seed=config.seed + _RL_STREAM)
    return [PromptItem(s.prompt, s.spec) for s in samples]


def eval_specs(config: EmbeddedConfig) -> list[SceneSpec]:
    return [
        s.spec for s in sample_dataset(config.world, config.eval_prompts, seed=config.seed + _EVAL_STREAM)
    ]


def generation_settings(config: EmbeddedConfig, guidance: bool = True) -> GenerationSettings:
    """The sampling settings of ``config.grpo`` (chain budget, temperatures, CFG scale; ``guidance=False``: no
    CFG, for a planner whose executor draws the image)."""
    return GenerationSettings(
        max_chain_tokens=config.grpo.max_chain_tokens,
        text_temperature=config.grpo.text_temperature,
        image_temperature=config.grpo.image_temperature,
        cfg_scale=config.grpo.cfg_scale if guidance else 1.0,
    )


def new_tiny_policy(config: EmbeddedConfig, corpus: list[str]) -> JanusPolicy:
    """A fresh tiny Janus whose tokenizer covers ``corpus`` and the world's vocabulary."""
    tokenizer = build_tokenizer([*corpus, *world_vocabulary(config.world)])
    return JanusPolicy.tiny(
        tokenizer, config.world.codec(), config.model, generation_settings(config), seed=config.seed
    )


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


def sft_examples_from_frame(
    frame: pd.DataFrame, codec: ImageCodec | None = None, *, images: bool = True
) -> list[SFTExample]:
    """Curated records as SFT examples, checked against the policy's ``codec`` before any training.

    A record's image is its ``image_tokens`` when it has them (the synthetic world), else its ``image_uri`` file,
    encoded by ``codec.encode_images`` when its batch is built (real GoT data with Janus-Pro's VQ:
    :func:`gotr1.training.sft.image_batch`). ``images=False``: the images are not needed (a planner trains its
    chain only).

    Raises:
        ValueError: a record has neither tokens nor an image file, only a file and ``codec`` cannot encode image
            files, or a number of tokens other than ``codec.num_tokens`` (the record's id is in the message).
    """
    ids, prompts, chains = (frame[c].astype(str).tolist() for c in ("id", "prompt", "chain"))
    if not images:
        return [SFTExample(p, c) for p, c in zip(prompts, chains, strict=True)]
    tokens = [tokens_from_text(t) if t.strip() else [] for t in frame["image_tokens"].astype(str)]
    uris = [u.strip() for u in frame["image_uri"].astype(str)]
    missing = [i for i, t in enumerate(tokens) if not t]
    for i in missing:
        if not uris[i]:
            raise ValueError(f"record {ids[i]!r} has neither image tokens nor an image file")
    if missing and not hasattr(codec, "encode_images"):
        raise ValueError(
            f"record {ids[missing[0]]!r} ({len(missing)} in all) has an image file but no image tokens, and "
            f"{'no codec' if codec is None else type(codec).__name__} can encode image files (Janus-Pro's VQ can)"
        )
    expected = None if codec is None else codec.num_tokens
    for record_id, row in zip(ids, tokens, strict=True):
        if row and expected is not None and len(row) != expected:
            raise ValueError(
                f"record {record_id!r} has {len(row)} image tokens; the policy's {type(codec).__name__} makes "
                f"{expected} an image"
            )
    return [
        SFTExample(p, c, t, "" if t else u) for p, c, t, u in zip(prompts, chains, tokens, uris, strict=True)
    ]
