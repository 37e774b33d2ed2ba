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

import numpy as np
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

    @property
    def image_size(self) -> int:
        """Pixels a side of the images the VQ encodes and decodes: the token grid times the encoder's downsampling
        (one halving per channel-multiplier level after the first): 24 x 16 = 384 for Janus-Pro."""
        levels = len(self.model.config.vq_config.channel_multiplier)
        return int(self._side * 2 ** (levels - 1))

    def pixels(self, images: Sequence[Image.Image]) -> torch.Tensor:
        """``[N, 3, S, S]`` float pixels in [-1, 1] (Janus's generation range): each image converted to RGB,
        center-cropped to a square and resized (bicubic) to :attr:`image_size`."""
        side = self.image_size
        rows = []
        for image in images:
            rgb = image.convert("RGB")
            w, h = rgb.size
            crop = min(w, h)
            left, top = (w - crop) // 2, (h - crop) // 2
            square = rgb.crop((left, top, left + crop, top + crop)).resize(
                (side, side), Image.Resampling.BICUBIC
            )
            rows.append(torch.from_numpy(np.asarray(square, dtype=np.float32)).permute(2, 0, 1))
        return torch.stack(rows) / 127.5 - 1.0

    @torch.no_grad()
    def encode_images(self, images: Sequence[Image.Image]) -> torch.Tensor:
        """N images -> ``[N, num_tokens]`` VQ codes (raster order), the tokens an SFT record trains the image head
        on. Inverse of :meth:`decode` up to the VQ's reconstruction error."""
        if not images:
            return torch.zeros(0, self.num_tokens, dtype=torch.long)
        vq = self.model.model.vqmodel
        pixels = self.pixels(images).to(device=self.model.device, dtype=next(vq.parameters()).dtype)
        codes = vq.encode(pixels).image_tokens.reshape(len(images), -1)
        if codes.shape[1] != self.num_tokens:
            raise ValueError(f"the VQ encoded {codes.shape[1]} tokens an image, expected {self.num_tokens}")
        return codes.long().cpu()

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
