"""The Policy and ImageCodec seams.

A policy is a reason-then-generate model: given prompts it samples a GoT chain from its text head and then image
tokens from its image head (GOT-R1-FACTS.md section 2), and it can recompute per-token log-probs of both spans
with gradients. The tiny Janus policy (synthetic world) and Janus-Pro (full scale) are the same class with a
different :class:`ImageCodec`; the planner + executor family implements the same Protocol with an empty image span.

Shapes: ``B`` prompts, ``G`` group size, ``N = B * G`` rollouts (grouped contiguously: rollout ``i`` belongs to
prompt ``i // G``), ``Lp`` prompt length, ``Lc`` chain length (ends with ``<begin_of_image>``), ``Li`` image tokens.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import torch

__all__ = ["ImageCodec", "Policy", "Rollout", "SpanLogprobs"]


@runtime_checkable
class ImageCodec(Protocol):
    """Maps images to a fixed-length sequence of discrete tokens and back.

    The synthetic world's grid codec is lossless; Janus's VQ tokenizer is the full-scale implementation.
    """

    @property
    def vocab_size(self) -> int:
        """Number of distinct image tokens."""
        ...

    @property
    def num_tokens(self) -> int:
        """Image tokens per image (``Li``)."""
        ...

    def decode(self, tokens: torch.Tensor) -> list[Any]:
        """``[N, Li]`` token ids -> N images (grids in the synthetic world, ``PIL.Image`` at full scale)."""
        ...

    def to_pil(self, image: Any) -> Any:
        """A decoded image as a ``PIL.Image.Image`` for people (reports, judges that need pixels)."""
        ...


@dataclass
class SpanLogprobs:
    """Per-token log-probs of the two generated spans. ``[N, Lc]`` and ``[N, Li]``; padding positions are 0."""

    chain: torch.Tensor
    image: torch.Tensor


@dataclass
class Rollout:
    """A batch of sampled chains and images with the log-probs recorded while sampling.

    Attributes:
        prompts: the B prompts.
        group_size: G.
        prompt_ids, prompt_mask: ``[N, Lp]``, left-padded model inputs (the chat template applied).
        chain_ids: ``[N, Lc]``, left-padded (right-aligned against the image span); ends with ``<begin_of_image>``.
        chain_mask: ``[N, Lc]``, 1 on chain tokens that are trained (sampled, or conditioned in SFT).
        chain_attention: ``[N, Lc]``, 1 on every real chain token (a ``<begin_of_image>`` appended at the length
            limit is attended but not trained).
        image_ids: ``[N, Li]``.
        logprobs: the log-probs recorded during sampling (the conditional policy's, at the sampling
            temperature; CFG only shapes which token is drawn).
        chain_texts: N decoded chains (``<begin_of_image>`` included) for :func:`gotr1.reasoning.parse`.
        images: N decoded images (``ImageCodec.decode``).
    """

    prompts: list[str]
    group_size: int
    prompt_ids: torch.Tensor
    prompt_mask: torch.Tensor
    chain_ids: torch.Tensor
    chain_mask: torch.Tensor
    image_ids: torch.Tensor
    logprobs: SpanLogprobs
    chain_texts: list[str]
    images: list[Any]
    chain_attention: torch.Tensor

    def __len__(self) -> int:
        return len(self.chain_texts)


@runtime_checkable
class Policy(Protocol):
    """A reason-then-generate policy: sample, score, save."""

    codec: ImageCodec

    def rollout(self, prompts: Sequence[str], group_size: int, *, seed: int | None = None) -> Rollout:
        """Sample ``group_size`` chains + images per prompt (no gradients)."""
        ...

    def logprobs(self, rollout: Rollout) -> SpanLogprobs:
        """Recompute per-token log-probs of the rollout's chain and image spans, with gradients."""
        ...

    def reference(self) -> AbstractContextManager[None]:
        """Context in which :meth:`logprobs` computes the reference policy (LoRA adapters disabled)."""
        ...

    def trainable_parameters(self) -> list[torch.nn.Parameter]: ...

    def save_pretrained(self, path: str | Path) -> None: ...
