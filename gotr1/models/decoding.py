"""Step-by-step decoding of a left-padded batch through a Janus language model, with or without a KV cache.

Both rollout phases (the chain from the text head, the image from the image head) feed one token per row per
step and read the last hidden state. :class:`StepDecoder` hides how: a static KV cache (preallocated to the
phase's final length, as ``JanusForConditionalGeneration.generate`` does in image mode), a dynamic one (grown by
concatenation), or none (the whole prefix recomputed every step; the reference the caches are checked against).

Positions count only attended tokens (``cumsum(mask) - 1``), so a row's hidden states do not depend on how much
left padding it got; the causal mask is by column, the padding mask by ``mask``.
"""

from __future__ import annotations

from typing import Literal

import torch
from transformers import PreTrainedModel
from transformers.cache_utils import Cache, DynamicCache, StaticCache

__all__ = ["CACHE_KINDS", "CacheKind", "StepDecoder", "positions_from_mask", "sample"]

CacheKind = Literal["static", "dynamic", "none"]
CACHE_KINDS: tuple[str, ...] = ("static", "dynamic", "none")


def positions_from_mask(mask: torch.Tensor) -> torch.Tensor:
    """``[N, L]`` attention mask -> ``[N, L]`` RoPE positions counting attended tokens only (padding gets 0)."""
    return (mask.long().cumsum(-1) - 1).clamp(min=0)


def sample(logits: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """One token per row from ``softmax(logits)`` (``[N, V]`` -> ``[N]``), drawn on the CPU generator so that a
    seed gives the same rollout on any device."""
    probs = torch.softmax(logits.float(), dim=-1).cpu()
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1).to(logits.device)


class StepDecoder:
    """Runs a prefix, then one new input embedding per row per step, returning the last hidden states.

    Args:
        language_model: the Janus text transformer (``model.model.language_model``), called with
            ``inputs_embeds``.
        cache: ``"static"``, ``"dynamic"`` or ``"none"``.
        max_length: prefix length plus the most steps that will follow (sizes the static cache).
    """

    def __init__(self, language_model: PreTrainedModel, cache: CacheKind, max_length: int) -> None:
        if cache not in CACHE_KINDS:
            raise ValueError(f"cache must be one of {CACHE_KINDS}, got {cache!r}")
        self.language_model = language_model
        self.kind = cache
        self.max_length = max_length
        self.cache: Cache | None = None
        if cache == "static":
            self.cache = StaticCache(config=language_model.config, max_cache_len=max_length)
        elif cache == "dynamic":
            self.cache = DynamicCache()
        self.embeds: torch.Tensor | None = None  # the whole prefix, kept only without a cache
        self.mask: torch.Tensor | None = None

    def _forward(self, embeds: torch.Tensor, mask: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        out = self.language_model(
            inputs_embeds=embeds,
            attention_mask=mask,
            position_ids=positions,
            past_key_values=self.cache,
            use_cache=self.cache is not None,
        )
        return out.last_hidden_state[:, -1]

    def prefill(self, embeds: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``[N, L, H]`` embeddings and ``[N, L]`` mask of the prefix -> ``[N, H]`` hidden state of its last column."""
        if embeds.shape[1] > self.max_length:
            raise ValueError(f"prefix of {embeds.shape[1]} tokens exceeds max_length {self.max_length}")
        self.mask = mask
        if self.cache is None:
            self.embeds = embeds
        return self._forward(embeds, mask, positions_from_mask(mask))

    def step(self, embeds: torch.Tensor, attend: torch.Tensor) -> torch.Tensor:
        """Append one column: ``[N, 1, H]`` embeddings and ``[N]`` attend flags -> ``[N, H]`` hidden states."""
        if self.mask is None:
            raise RuntimeError("StepDecoder.step before prefill")
        if self.mask.shape[1] >= self.max_length:
            raise ValueError(f"StepDecoder is full: max_length {self.max_length} reached")
        self.mask = torch.cat([self.mask, attend.long()[:, None]], dim=1)
        if self.embeds is None:
            position = (self.mask.sum(-1, keepdim=True) - 1).clamp(min=0)
            return self._forward(embeds, self.mask, position)
        self.embeds = torch.cat([self.embeds, embeds], dim=1)
        return self._forward(self.embeds, self.mask, positions_from_mask(self.mask))
