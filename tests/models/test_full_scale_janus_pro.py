"""Janus-Pro path at tiny size: a random JanusConfig whose VQ model is real, loaded the way Janus-Pro is."""

from __future__ import annotations

from pathlib import Path

import torch

from gotr1.models.janus_pro import JanusVQCodec, load_janus_pro
from gotr1.reasoning import GOT_TOKENS
from tests.helpers.janus_pro import tiny_janus_pro


def test_janus_pro_loads_with_got_tokens_lora_and_vq_decoding(tmp_path: Path) -> None:
    policy = load_janus_pro(
        str(tiny_janus_pro(tmp_path / "janus-pro-tiny")), lora_rank=4, lora_alpha=4, dtype=torch.float32
    )
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
