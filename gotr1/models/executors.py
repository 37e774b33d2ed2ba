"""Frozen layout-to-image executors for the planner + executor family (:mod:`gotr1.models.planner`).

A planner writes the GoT chain; an executor draws the image from the chain's grounded objects (phrases and boxes)
and is never trained. Two implementations behind one :class:`Executor` Protocol:

- :class:`WorldPainter` (synthetic world): :func:`gotr1.synthetic.detect.paint` onto the world's grid. Images are
  ``[G, G]`` integer grids, exactly what the verifier judge reads; :meth:`Executor.image_ids` gives their grid
  tokens (``[N, G*G]``) for the rollout's image span.
- :class:`GLIGENExecutor` (full scale): diffusers' ``StableDiffusionGLIGENPipeline`` with the chain's phrases and
  boxes (converted from the [0, 1000) canvas to [0, 1]) as ``gligen_phrases`` / ``gligen_boxes``; images are
  ``PIL.Image.Image`` (what the MLLM judges read); the image span is empty (``[N, 0]``).

A chain that did not parse (``None``) gets a blank canvas from either executor (the world's all-background grid,
a uniform grey picture from GLIGEN), so the image rewards score it as drawing nothing. So does a chain that
parsed but grounds no object: the executor draws only what the plan grounds.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch

from gotr1.models.base import ImageCodec
from gotr1.reasoning.chain import COORD_RANGE, Box, GoTChain
from gotr1.synthetic.codec import GridCodec
from gotr1.synthetic.detect import paint

__all__ = [
    "BLANK_RGB",
    "Executor",
    "GLIGENExecutor",
    "PixelImages",
    "WorldPainter",
    "executor_from_dict",
    "gligen_boxes",
]

BLANK_RGB = (127, 127, 127)  # GLIGEN's canvas for a chain that did not parse or grounds nothing


@runtime_checkable
class Executor(Protocol):
    """Draws one image per chain; frozen (no gradients, no parameters the planner's optimizer sees).

    Attributes:
        kind: ``"world"`` or ``"gligen"`` (saved beside a planner checkpoint).
        codec: what the rollout and the judges need to read the images (the world's grid codec; at full scale
            :class:`PixelImages`, images already PIL, no image tokens).
    """

    kind: str
    codec: ImageCodec

    def draw(
        self, chains: Sequence[GoTChain | None], prompts: Sequence[str], seeds: Sequence[int] | None = None
    ) -> list[Any]:
        """One image per chain (``None`` = the chain did not parse: a blank canvas). ``prompts[i]`` is chain
        ``i``'s caption; ``seeds[i]`` its sampling seed (ignored by deterministic executors)."""
        ...

    def image_ids(self, images: Sequence[Any]) -> torch.Tensor:
        """``[N, Li]`` image tokens of drawn images for the rollout's image span (``Li`` may be 0)."""
        ...

    def to_dict(self) -> dict[str, Any]:
        """What :func:`executor_from_dict` needs to rebuild the executor."""
        ...


class WorldPainter:
    """The synthetic world's executor: grounded objects painted onto the grid (:func:`gotr1.synthetic.detect.paint`)."""

    kind = "world"

    def __init__(self, codec: GridCodec) -> None:
        self.codec: GridCodec = codec

    def draw(
        self, chains: Sequence[GoTChain | None], prompts: Sequence[str], seeds: Sequence[int] | None = None
    ) -> list[np.ndarray]:
        if len(prompts) != len(chains):
            raise ValueError(f"WorldPainter.draw: {len(chains)} chains but {len(prompts)} prompts")
        g = self.codec.grid_size
        return [
            np.zeros((g, g), dtype=np.int64) if c is None else paint(c.objects, self.codec) for c in chains
        ]

    def image_ids(self, images: Sequence[Any]) -> torch.Tensor:
        if not images:
            return torch.zeros(0, self.codec.num_tokens, dtype=torch.long)
        return self.codec.encode(list(images))

    def to_dict(self) -> dict[str, Any]:
        c = self.codec
        return {
            "kind": self.kind,
            "grid_size": c.grid_size,
            "classes": list(c.classes),
            "colors": list(c.colors),
        }


class PixelImages:
    """The image "codec" of a pixel executor: images are already ``PIL.Image.Image``; there are no image tokens.

    ``to_pil`` is what the MLLM judges use; ``decode`` has nothing to decode and says so.
    """

    vocab_size = 0
    num_tokens = 0

    def decode(self, tokens: torch.Tensor) -> list[Any]:
        raise ValueError(
            "a pixel executor's images are PIL images stored in the rollout (Rollout.images); it has no image "
            "tokens to decode"
        )

    def to_pil(self, image: Any) -> Any:
        from PIL import Image

        if not isinstance(image, Image.Image):
            raise TypeError(f"expected a PIL image from the executor, got {type(image).__name__}")
        return image


def gligen_boxes(boxes: Sequence[Box]) -> list[list[float]]:
    """Chain boxes on the [0, 1000) canvas -> GLIGEN's ``[xmin, ymin, xmax, ymax]`` in [0, 1]."""
    return [[b.x1 / COORD_RANGE, b.y1 / COORD_RANGE, b.x2 / COORD_RANGE, b.y2 / COORD_RANGE] for b in boxes]


class GLIGENExecutor:
    """diffusers' ``StableDiffusionGLIGENPipeline`` drawing the plan's grounded objects; frozen.

    One pipeline call per image (GLIGEN's phrases and boxes are per call), each with its own
    ``torch.Generator`` seeded from ``seeds[i]``. At most 30 objects are grounded (GLIGEN's limit; the rest are
    dropped by the pipeline with a warning).

    Args:
        path: a saved pipeline folder or hub id (``StableDiffusionGLIGENPipeline.from_pretrained``), e.g.
            ``masterful/gligen-1-4-generation-text-box``.
        num_inference_steps, guidance_scale: the pipeline's denoising steps and CFG weight.
        scheduled_sampling_beta: ``gligen_scheduled_sampling_beta``, the fraction of steps with grounding on.
        height, width: pixels (multiples of 8); ``None`` = the UNet's sample size times the VAE's scale.
        caption: the text the pipeline is prompted with: ``"prompt"`` (the user's caption) or ``"chain"`` (the
            chain's prose with boxes removed, :attr:`GoTChain.text_without_boxes`; CLIP reads 77 tokens).
        device: where the pipeline runs (default CUDA when available).
        dtype: the pipeline's dtype (e.g. ``torch.float16`` on GPU); ``None`` = as saved.
        pipeline: an already built pipeline (instead of loading ``path``).
    """

    kind = "gligen"

    def __init__(
        self,
        path: str | Path | None,
        *,
        num_inference_steps: int = 50,
        guidance_scale: float = 7.5,
        scheduled_sampling_beta: float = 0.3,
        height: int | None = None,
        width: int | None = None,
        caption: str = "prompt",
        device: str | None = None,
        dtype: torch.dtype | None = None,
        pipeline: Any = None,
    ) -> None:
        if caption not in ("prompt", "chain"):
            raise ValueError(f"GLIGENExecutor.caption must be 'prompt' or 'chain', got {caption!r}")
        if num_inference_steps < 1:
            raise ValueError(f"GLIGENExecutor.num_inference_steps must be >= 1, got {num_inference_steps}")
        if not 0.0 <= scheduled_sampling_beta <= 1.0:
            raise ValueError(
                f"GLIGENExecutor.scheduled_sampling_beta must be in [0, 1], got {scheduled_sampling_beta}"
            )
        for name, value in (("height", height), ("width", width)):
            if value is not None and (value < 8 or value % 8):
                raise ValueError(f"GLIGENExecutor.{name} must be a positive multiple of 8, got {value}")
        if pipeline is None:
            if path is None:
                raise ValueError("GLIGENExecutor needs a pipeline path or a pipeline")
            from diffusers import StableDiffusionGLIGENPipeline

            kwargs: dict[str, Any] = {} if dtype is None else {"torch_dtype": dtype}
            pipeline = StableDiffusionGLIGENPipeline.from_pretrained(str(path), **kwargs)
        if device is None:
            device = "cuda" if torch.cuda.is_available() else "cpu"
        pipeline = pipeline.to(device)
        pipeline.set_progress_bar_config(disable=True)
        for name in ("unet", "vae", "text_encoder"):
            module = getattr(pipeline, name, None)
            if isinstance(module, torch.nn.Module):
                module.eval().requires_grad_(False)
        self.pipeline = pipeline
        self.path = None if path is None else str(path)
        self.num_inference_steps = num_inference_steps
        self.guidance_scale = guidance_scale
        self.scheduled_sampling_beta = scheduled_sampling_beta
        self.caption = caption
        self.codec: PixelImages = PixelImages()
        self.height = height or int(pipeline.unet.config.sample_size) * int(pipeline.vae_scale_factor)
        self.width = width or int(pipeline.unet.config.sample_size) * int(pipeline.vae_scale_factor)

    def blank(self) -> Any:
        """The canvas for a chain that did not parse or grounds nothing."""
        from PIL import Image

        return Image.new("RGB", (self.width, self.height), BLANK_RGB)

    def draw(
        self, chains: Sequence[GoTChain | None], prompts: Sequence[str], seeds: Sequence[int] | None = None
    ) -> list[Any]:
        if len(prompts) != len(chains):
            raise ValueError(f"GLIGENExecutor.draw: {len(chains)} chains but {len(prompts)} prompts")
        if seeds is not None and len(seeds) != len(chains):
            raise ValueError(f"GLIGENExecutor.draw: {len(chains)} chains but {len(seeds)} seeds")
        images = []
        for i, (chain, prompt) in enumerate(zip(chains, prompts, strict=True)):
            if chain is None or not chain.objects:
                images.append(self.blank())
                continue
            generator = torch.Generator(device="cpu")
            if seeds is not None:
                generator.manual_seed(int(seeds[i]))
            else:
                generator.seed()
            text = prompt if self.caption == "prompt" else chain.text_without_boxes
            with torch.inference_mode():
                out = self.pipeline(
                    prompt=text,
                    gligen_phrases=[o.phrase for o in chain.objects],
                    gligen_boxes=gligen_boxes([o.box for o in chain.objects]),
                    gligen_scheduled_sampling_beta=self.scheduled_sampling_beta,
                    num_inference_steps=self.num_inference_steps,
                    guidance_scale=self.guidance_scale,
                    height=self.height,
                    width=self.width,
                    generator=generator,
                    output_type="pil",
                )
            images.append(out.images[0])
        return images

    def image_ids(self, images: Sequence[Any]) -> torch.Tensor:
        return torch.zeros(len(images), 0, dtype=torch.long)

    def to_dict(self) -> dict[str, Any]:
        if self.path is None:
            raise ValueError("GLIGENExecutor built from an in-memory pipeline has no path to save")
        return {
            "kind": self.kind,
            "path": self.path,
            "num_inference_steps": self.num_inference_steps,
            "guidance_scale": self.guidance_scale,
            "scheduled_sampling_beta": self.scheduled_sampling_beta,
            "height": self.height,
            "width": self.width,
            "caption": self.caption,
        }


def executor_from_dict(data: dict[str, Any], **gligen_kwargs: Any) -> Executor:
    """Rebuild an executor from :meth:`Executor.to_dict` (``gligen_kwargs``: ``device``, ``dtype``)."""
    kind = data.get("kind")
    if kind == "world":
        return WorldPainter(GridCodec.build(int(data["grid_size"]), data["classes"], data["colors"]))
    if kind == "gligen":
        fields = {k: v for k, v in data.items() if k != "kind"}
        path = fields.pop("path")
        return GLIGENExecutor(path, **fields, **gligen_kwargs)
    raise ValueError(f"unknown executor kind {kind!r} (expected 'world' or 'gligen')")
