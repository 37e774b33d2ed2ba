"""A tiny random Janus-Pro in transformers' format whose VQ model is real (decodes tokens to pixels): the full-scale
checkpoint path at test size. Written like ``deepseek-community/Janus-Pro-*`` (model + tokenizer folder)."""

from __future__ import annotations

from pathlib import Path

import torch
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import (
    JanusConfig,
    JanusForConditionalGeneration,
    JanusVisionConfig,
    JanusVQVAEConfig,
    LlamaConfig,
    PreTrainedTokenizerFast,
)

from gotr1.models.tokenizer import format_prompt

__all__ = ["tiny_janus_pro"]


def tiny_janus_pro(
    path: Path, words: tuple[str, ...] = ("a", "photo", "of", "red", "dog", "cup", "and")
) -> Path:
    """Write a random Janus (2 text layers of width 32, a 4-token VQ image of 32 x 32 pixels) and a word-level
    tokenizer knowing the prompt template and ``words`` to ``path``; returns ``path``."""
    known = sorted(set(format_prompt("a").split()) | set(words) | {":"})
    vocab = {t: i for i, t in enumerate(["<pad>", "<bos>", "<eos>", "<unk>", "<begin_of_image>", *known])}
    raw = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    raw.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=raw,
        pad_token="<pad>",
        bos_token="<bos>",
        eos_token="<eos>",
        unk_token="<unk>",
        additional_special_tokens=["<begin_of_image>"],
    )
    text = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        pad_token_id=0,
    )
    vision = JanusVisionConfig(
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        image_size=32,
        patch_size=16,
        projection_dim=32,
        num_image_tokens=4,
        depth=1,
    )
    vq = JanusVQVAEConfig(
        num_embeddings=64,
        embed_dim=8,
        latent_channels=8,
        base_channels=32,
        channel_multiplier=[1, 1],
        num_res_blocks=1,
        projection_dim=32,
        image_token_embed_dim=32,
    )
    torch.manual_seed(0)
    model = JanusForConditionalGeneration(JanusConfig(text_config=text, vision_config=vision, vq_config=vq))
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path
