"""Janus-Pro path at tiny size: a random JanusConfig whose VQ model is real, loaded the way Janus-Pro is."""

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

from gotr1.models.janus_pro import JanusVQCodec, load_janus_pro
from gotr1.models.tokenizer import format_prompt
from gotr1.reasoning import GOT_TOKENS


def _tiny_janus_pro(tmp_path: Path) -> Path:
    words = sorted(
        {w for w in format_prompt("a photo of a red dog").split()} | {"a", "dog", "red", ":", "photo"}
    )
    vocab = {t: i for i, t in enumerate(["<pad>", "<bos>", "<eos>", "<unk>", "<begin_of_image>", *words])}
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
    path = tmp_path / "janus-pro-tiny"
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def test_janus_pro_loads_with_got_tokens_lora_and_vq_decoding(tmp_path: Path) -> None:
    policy = load_janus_pro(str(_tiny_janus_pro(tmp_path)), lora_rank=4, lora_alpha=4, dtype=torch.float32)
    vocab = policy.tokenizer.get_vocab()
    assert all(t in vocab for t in GOT_TOKENS)
    assert policy.model.get_input_embeddings().weight.shape[0] >= len(policy.tokenizer)
    assert isinstance(policy.codec, JanusVQCodec) and policy.codec.num_tokens == 4
    assert policy.generation.cfg_scale == 5.0 and policy.generation.max_chain_tokens == 600
    trainable = [n for n, p in policy.model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)

    from dataclasses import replace

    policy.generation = replace(policy.generation, max_chain_tokens=6)
    rollout = policy.rollout(["a photo of a red dog"], 2, seed=0)
    assert [im.size for im in rollout.images] == [(4, 4)] * 2, [im.size for im in rollout.images]
    lp = policy.logprobs(rollout)
    assert torch.allclose(lp.image, rollout.logprobs.image, atol=1e-4)
    assert torch.allclose(lp.chain, rollout.logprobs.chain, atol=1e-4)

    policy.save_pretrained(tmp_path / "saved")
    from gotr1.models.janus import JanusPolicy

    reloaded = JanusPolicy.from_pretrained(tmp_path / "saved")
    assert isinstance(reloaded.codec, JanusVQCodec)
