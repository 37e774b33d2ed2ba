"""Full scale: Janus-Pro-1B/7B as a :class:`gotr1.models.janus.JanusPolicy` (same rollout and log-prob code).

The only difference from the tiny policy is the image codec: Janus's VQ tokenizer (576 tokens for a 24 x 24
grid, decoded to 384 x 384 pixels) instead of the synthetic world's grid.

Checkpoints: ``deepseek-community/Janus-Pro-1B`` / ``-7B`` are Janus-Pro in transformers' format. The GoT-R1
checkpoints (``gogoduan/GoT-R1-1B`` / ``-7B``) are in DeepSeek's original Janus format. transformers' source
tree has ``src/transformers/models/janus/convert_janus_weights_to_hf.py`` (not shipped in the wheel); from a
checkout of transformers 5.23::

    python src/transformers/models/janus/convert_janus_weights_to_hf.py \\
        --repo_id gogoduan/GoT-R1-7B --output_dir ./GoT-R1-7B-hf --safe_serialization

(``--local_dir`` instead of ``--repo_id`` for a downloaded copy), then load ``./GoT-R1-7B-hf`` here; the GoT
tokens already in its tokenizer are kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from PIL import Image
from transformers import AutoTokenizer, JanusForConditionalGeneration

from gotr1.models.janus import GenerationSettings, JanusPolicy
from gotr1.reasoning.chain import BEGIN_OF_IMAGE, GOT_TOKENS

__all__ = ["JanusVQCodec", "load_janus_pro"]


class JanusVQCodec:
    """Janus's VQ tokenizer behind the :class:`gotr1.models.base.ImageCodec` seam."""

    def __init__(self, model: JanusForConditionalGeneration) -> None:
        self.model = model
        vq = model.config.vq_config
        self._vocab = int(vq.num_embeddings)
        self._side = int(vq.num_patches)

    @property
    def vocab_size(self) -> int:
        return self._vocab

    @property
    def num_tokens(self) -> int:
        return self._side * self._side

    @torch.no_grad()
    def decode(self, tokens: torch.Tensor) -> list[Image.Image]:
        """``[N, 576]`` VQ codes -> N RGB images (pixels in [-1, 1] mapped to 0-255)."""
        if tokens.ndim != 2 or tokens.shape[1] != self.num_tokens:
            raise ValueError(f"expected [N, {self.num_tokens}] image tokens, got {tuple(tokens.shape)}")
        pixels = self.model.decode_image_tokens(tokens.to(self.model.device))  # [N, H, W, 3] in [-1, 1]
        pixels = ((pixels.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).cpu().numpy()
        return [Image.fromarray(p) for p in pixels]

    def to_pil(self, image: Image.Image) -> Image.Image:
        return image

    def to_dict(self) -> dict[str, Any]:
        return {"type": "janus_vq"}

    @classmethod
    def from_dict(cls, data: dict[str, Any], model: JanusForConditionalGeneration) -> JanusVQCodec:
        if model is None:
            raise ValueError("the Janus VQ codec needs the loaded model")
        return cls(model)


def add_got_tokens(tokenizer: Any, model: JanusForConditionalGeneration) -> int:
    """Add the four GoT tokens (and ``<begin_of_image>`` if missing); resize the text embeddings to match.

    New rows are initialised to the mean of the existing embeddings (a common, stable choice). Returns how
    many tokens were added.
    """
    missing = [t for t in (*GOT_TOKENS, BEGIN_OF_IMAGE) if t not in tokenizer.get_vocab()]
    if not missing:
        return 0
    old = model.get_input_embeddings().weight.shape[0]
    tokenizer.add_tokens(missing, special_tokens=True)
    model.resize_token_embeddings(len(tokenizer), mean_resizing=True)
    assert model.get_input_embeddings().weight.shape[0] >= old + len(missing)
    return len(missing)


def load_janus_pro(
    path_or_id: str,
    lora_rank: int = 32,
    lora_alpha: int = 32,
    dtype: torch.dtype = torch.bfloat16,
    generation: GenerationSettings | None = None,
    device: str | None = None,
    extra_tokenizer_tokens: Sequence[str] = (),
) -> JanusPolicy:
    """Janus-Pro (transformers format, local path or hub id) with the GoT tokens and LoRA, ready for GRPO.

    Defaults follow GoT-R1: bf16, LoRA r = alpha = 32 on the language model, CFG 5, chains up to 600 tokens.
    """
    model = JanusForConditionalGeneration.from_pretrained(path_or_id, dtype=dtype)
    tokenizer = AutoTokenizer.from_pretrained(path_or_id)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    add_got_tokens(tokenizer, model)
    if extra_tokenizer_tokens:
        tokenizer.add_tokens(list(extra_tokenizer_tokens))
        model.resize_token_embeddings(len(tokenizer), mean_resizing=True)
    if device:
        model.to(device)
    policy = JanusPolicy(
        model, tokenizer, JanusVQCodec(model), generation or GenerationSettings(max_chain_tokens=600)
    )
    if lora_rank:
        policy.add_lora(lora_rank, lora_alpha)
    return policy
