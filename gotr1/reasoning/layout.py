"""The R_spa judge input: a chain's boxes drawn on a blank canvas, each phrase written at its box's top-left."""

from __future__ import annotations

from collections.abc import Sequence

from PIL import Image, ImageDraw, ImageFont

from gotr1.reasoning.chain import GoTChain, GroundedObject
from gotr1.reasoning.geometry import box_to_pixels

__all__ = ["LAYOUT_COLORS", "draw_layout"]

# Deterministic colours by object index (distinct on white).
LAYOUT_COLORS: tuple[tuple[int, int, int], ...] = (
    (230, 25, 75),
    (60, 180, 75),
    (0, 130, 200),
    (245, 130, 48),
    (145, 30, 180),
    (70, 160, 160),
    (240, 50, 230),
    (128, 128, 0),
    (0, 0, 128),
    (128, 0, 0),
)


def draw_layout(
    chain: GoTChain | Sequence[GroundedObject], size: tuple[int, int] = (512, 512), line_width: int = 3
) -> Image.Image:
    """A white ``size`` canvas with every grounded object's box outlined in its colour and its phrase written
    at the box's top-left corner (GoT-R1's spatial judge reads this, not the coordinates as text)."""
    objects = chain.objects if isinstance(chain, GoTChain) else tuple(chain)
    canvas = Image.new("RGB", size, (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default()
    for i, obj in enumerate(objects):
        colour = LAYOUT_COLORS[i % len(LAYOUT_COLORS)]
        x1, y1, x2, y2 = box_to_pixels(obj.box, *size)
        draw.rectangle([x1, y1, x2, y2], outline=colour, width=line_width)
        draw.text((x1 + line_width + 1, y1 + line_width), obj.phrase, fill=colour, font=font)
    return canvas
