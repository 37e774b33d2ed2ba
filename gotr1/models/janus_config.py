"""Configs of the unified Janus policy: the tiny model's size and how rollouts sample.

:func:`tiny_janus_config` turns a :class:`TinyJanusConfig`, a tokenizer size and an image codec into a real
``transformers.JanusConfig`` (nothing is downloaded). The constraints transformers 5.23 puts on a Janus config
(ENVIRONMENT.md): ``vq_config.projection_dim == image_token_embed_dim == text hidden size``,
``num_image_tokens == (image_size // patch_size) ** 2`` and ``base_channels >= 32``.
"""

from __future__ import annotations

from dataclasses import dataclass

from transformers import JanusConfig, JanusVisionConfig, JanusVQVAEConfig, LlamaConfig

from gotr1.models.base import ImageCodec
from gotr1.models.decoding import CACHE_KINDS

__all__ = ["IMAGE_LOGPROBS", "GenerationSettings", "TinyJanusConfig", "tiny_janus_config"]

IMAGE_LOGPROBS: tuple[str, ...] = ("conditional", "guided")


@dataclass(frozen=True)
class TinyJanusConfig:
    """Size of the tiny Janus built from scratch for the synthetic world.

    The defaults (hidden 128, 4 layers, 8 x 8 grid) are the CPU embedded default sized in issue 3: about 1.4M
    parameters in use (the understanding tower and the VQ decoder exist but generation does not use them).

    Attributes:
        hidden_size: text hidden size; also the image-token embedding and aligner width (Janus requires it).
        num_layers: transformer layers.
        num_heads: attention heads (``hidden_size`` must divide by it); no grouped-query attention.
        intermediate_size: MLP width.
        max_positions: ``max_position_embeddings`` (RoPE; longer sequences still run, untrained positions).
    """

    hidden_size: int = 128
    num_layers: int = 4
    num_heads: int = 4
    intermediate_size: int = 512
    max_positions: int = 512

    def __post_init__(self) -> None:
        for name in ("hidden_size", "num_layers", "num_heads", "intermediate_size", "max_positions"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"TinyJanusConfig.{name} must be a positive int, got {value!r}")
        if self.hidden_size % self.num_heads:
            raise ValueError(
                f"TinyJanusConfig.hidden_size {self.hidden_size} must be divisible by num_heads {self.num_heads}"
            )
        if (self.hidden_size // self.num_heads) % 2:
            raise ValueError(
                f"TinyJanusConfig: head size hidden_size / num_heads = {self.hidden_size // self.num_heads} "
                "must be even (rotary embeddings rotate pairs)"
            )


@dataclass(frozen=True)
class GenerationSettings:
    """How rollouts sample (GOT-R1-FACTS.md section 2).

    Attributes:
        max_chain_tokens: reasoning budget; a chain that reaches it gets ``<begin_of_image>`` appended (600 at full
            scale in GoT-R1; the tiny world's chains are under 100 tokens).
        text_temperature: temperature of the text head (GoT-R1: 1.0, no top-p/top-k).
        image_temperature: temperature of the image head (GoT-R1: 1.0).
        cfg_scale: classifier-free guidance weight ``w`` in ``uncond + w * (cond - uncond)`` (GoT-R1: 5);
            1.0 samples from the conditional logits alone and skips the unconditional rows.
        use_cache: decode with a KV cache (``False`` recomputes the whole prefix every step; for checks and the
            benchmark).
        cache_implementation: ``"static"`` (preallocated, as Janus's own image generation) or ``"dynamic"``.
        image_logprobs: which distribution an image token's log-prob is taken under, when sampling and in
            :meth:`JanusPolicy.logprobs`: ``"conditional"`` (the conditional branch alone; CFG only shapes which
            token is drawn) or ``"guided"`` (the CFG-guided distribution the token was drawn from, so a GRPO
            ratio and KL are exactly on-policy; its gradient reaches the unconditional branch too). Equal when
            ``cfg_scale`` is 1.
    """

    max_chain_tokens: int = 96
    text_temperature: float = 1.0
    image_temperature: float = 1.0
    cfg_scale: float = 5.0
    use_cache: bool = True
    cache_implementation: str = "static"
    image_logprobs: str = "conditional"

    def __post_init__(self) -> None:
        if self.max_chain_tokens < 1:
            raise ValueError(f"GenerationSettings.max_chain_tokens must be >= 1, got {self.max_chain_tokens}")
        if self.text_temperature <= 0 or self.image_temperature <= 0:
            raise ValueError(
                "GenerationSettings temperatures must be > 0, got "
                f"text {self.text_temperature}, image {self.image_temperature}"
            )
        if self.cfg_scale < 0:
            raise ValueError(f"GenerationSettings.cfg_scale must be >= 0, got {self.cfg_scale}")
        if self.cache_implementation not in CACHE_KINDS[:2]:
            raise ValueError(
                f"GenerationSettings.cache_implementation must be 'static' or 'dynamic', "
                f"got {self.cache_implementation!r}"
            )

        if self.image_logprobs not in IMAGE_LOGPROBS:
            raise ValueError(
                f"GenerationSettings.image_logprobs must be one of {IMAGE_LOGPROBS}, got {self.image_logprobs!r}"
            )

    @property
    def guided(self) -> bool:
        """Whether image log-probs are the CFG-guided distribution's (and differ from the conditional ones)."""
        return self.image_logprobs == "guided" and self.cfg_scale != 1.0

    @property
    def cache(self) -> str:
        """The decoder's cache kind: ``cache_implementation``, or ``"none"`` without a cache."""
        return self.cache_implementation if self.use_cache else "none"


def tiny_janus_config(size: TinyJanusConfig, vocab_size: int, codec: ImageCodec, pad_id: int) -> JanusConfig:
    """A real ``JanusConfig`` at tiny size: text vocabulary ``vocab_size``, image vocabulary and length the codec's.

    Args:
        size: the transformer's size.
        vocab_size: the text tokenizer's ``len(tokenizer)``.
        codec: the image codec; ``codec.num_tokens`` must be a square (Janus generates a square grid of codes).
        pad_id: the text padding token.
    """
    side = round(codec.num_tokens**0.5)
    if side * side != codec.num_tokens:
        raise ValueError(
            f"codec.num_tokens={codec.num_tokens} must be a square (Janus generates a square grid)"
        )
    h = size.hidden_size
    text = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=h,
        intermediate_size=size.intermediate_size,
        num_hidden_layers=size.num_layers,
        num_attention_heads=size.num_heads,
        num_key_value_heads=size.num_heads,
        max_position_embeddings=size.max_positions,
        pad_token_id=pad_id,
        tie_word_embeddings=True,
    )
    # The understanding tower is unused by generation; it is kept minimal but real.
    vision = JanusVisionConfig(
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        image_size=16 * side,
        patch_size=16,
        projection_dim=h,
        num_image_tokens=codec.num_tokens,
        depth=1,
    )
    # The VQ model is Janus's image tokenizer; here only its codebook size matters (the grid codec decodes).
    vq = JanusVQVAEConfig(
        num_embeddings=codec.vocab_size,
        embed_dim=8,
        latent_channels=8,
        base_channels=32,
        channel_multiplier=[1, 1],
        num_res_blocks=1,
        projection_dim=h,
        image_token_embed_dim=h,
    )
    config = JanusConfig(text_config=text, vision_config=vision, vq_config=vq)
    config.text_config._attn_implementation = "eager"
    return config
