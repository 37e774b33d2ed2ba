"""Step-by-step decoding of a left-padded batch through a Janus language model, with or without a KV cache.

Both rollout phases (the chain from the text head, the image from the image head) feed one token per row per
step and read the last hidden state. :class:`StepDecoder` hides how: a static KV cache (preallocated to the
phase's final length, as ``JanusForConditionalGeneration.generate`` does in image mode), a dynamic one (grown by
concatenation), or none (the whole prefix recomputed every step; the reference the caches are checked against).

Positions count only attended tokens (``cumsum(mask) - 1``), so a row's hidden states do not depend on how much
left padding it got; the causal mask is by column, the padding mask by ``mask``.
"""

from __future__ import annotations

from collections.abc import Callable
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


def token_logprobs(logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """``[..., V]`` logits and ``[...]`` tokens -> ``[...]`` log-softmax at the tokens."""
    return torch.gather(torch.log_softmax(logits, dim=-1), -1, tokens[..., None]).squeeze(-1)


def sample_chains(
    decoder: StepDecoder,
    embed: Callable[[torch.Tensor], torch.Tensor],
    head: Callable[[torch.Tensor], torch.Tensor],
    ids: torch.Tensor,
    mask: torch.Tensor,
    *,
    budget: int,
    temperature: float,
    pad_id: int,
    stop_id: int,
    generator: torch.Generator,
) -> tuple[list[list[int]], list[list[float]], list[list[bool]]]:
    """The reasoning phase shared by every policy: sample from ``head`` until ``stop_id`` (``<begin_of_image>``) or
    ``budget`` tokens, rows that stopped feeding padding (unattended) while the others go on.

    Args:
        decoder: a fresh :class:`StepDecoder` sized for ``ids.shape[1] + budget``.
        embed: token ids ``[N, L]`` -> input embeddings.
        head: hidden states ``[N, H]`` -> text logits ``[N, V]``.
        ids, mask: ``[N, L]`` left-padded prompts and their attention mask.

    Returns:
        Per row: the chain's token ids, their log-probs at ``temperature``, and which are trained; a chain cut by
        the budget gets ``stop_id`` appended (attended, not trained, log-prob 0).
    """
    n = ids.shape[0]
    hidden = decoder.prefill(embed(ids), mask)
    tokens = torch.full((n, budget), pad_id, dtype=torch.long, device=ids.device)
    lps = torch.zeros(n, budget, device=ids.device)
    done = torch.zeros(n, dtype=torch.bool, device=ids.device)
    lengths = torch.zeros(n, dtype=torch.long, device=ids.device)
    for t in range(budget):
        logits = head(hidden).float() / temperature
        token = sample(logits, generator)
        tokens[:, t], lps[:, t] = token, token_logprobs(logits, token)
        lengths += (~done).long()
        done |= token == stop_id
        if bool(done.all()) or t + 1 == budget:
            break
        feed = torch.where(done, torch.full_like(token, pad_id), token)
        hidden = decoder.step(embed(feed[:, None]), ~done)
    chains, chain_lps, trained = [], [], []
    for row, row_lp, length in zip(tokens.tolist(), lps.tolist(), lengths.tolist(), strict=True):
        chain, chain_lp = row[:length], row_lp[:length]
        flags = [True] * length
        if chain[-1] != stop_id:
            chain, chain_lp, flags = [*chain, stop_id], [*chain_lp, 0.0], [*flags, False]
        chains.append(chain)
        chain_lps.append(chain_lp)
        trained.append(flags)
    return chains, chain_lps, trained


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
