"""The synthetic world's image codec: a G x G grid of cells, one token per cell, lossless.

Token 0 is background; an object cell holds ``1 + class_index * len(colors) + color_index``. Images are
``[G, G]`` integer numpy arrays; the token sequence is the grid in row-major order (``Li = G * G``), which is
the order the policy's image head emits them, as Janus emits its 24 x 24 VQ codes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

__all__ = ["COLOR_RGB", "GridCodec"]

COLOR_RGB: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "orange": (245, 140, 20),
    "yellow": (240, 220, 40),
    "green": (40, 170, 60),
    "blue": (40, 90, 220),
    "purple": (140, 60, 190),
    "pink": (245, 150, 190),
    "brown": (130, 80, 40),
    "black": (20, 20, 20),
    "white": (250, 250, 250),
}
BACKGROUND_RGB = (200, 200, 200)


@dataclass(frozen=True)
class GridCodec:
    """Lossless (class, colour) cell codec.

    Attributes:
        grid_size: G; the image has G * G tokens.
        classes: object class names, in token order.
        colors: colour names, in token order.
    """

    grid_size: int
    classes: tuple[str, ...]
    colors: tuple[str, ...]

    def __post_init__(self) -> None:
        if self.grid_size < 2:
            raise ValueError(f"GridCodec.grid_size must be >= 2, got {self.grid_size}")
        if not self.classes or len(set(self.classes)) != len(self.classes):
            raise ValueError("GridCodec.classes must be non-empty and unique")
        if not self.colors or len(set(self.colors)) != len(self.colors):
            raise ValueError("GridCodec.colors must be non-empty and unique")
        unknown = [c for c in self.colors if c not in COLOR_RGB]
        if unknown:
            raise ValueError(f"GridCodec.colors has colours without an RGB value: {unknown}")

    @classmethod
    def build(cls, grid_size: int, classes: Sequence[str], colors: Sequence[str]) -> GridCodec:
        return cls(grid_size, tuple(classes), tuple(colors))

    @property
    def vocab_size(self) -> int:
        return 1 + len(self.classes) * len(self.colors)

    @property
    def num_tokens(self) -> int:
        return self.grid_size * self.grid_size

    def code(self, cls: str, color: str) -> int:
        """The token of a cell covered by a ``color`` ``cls``."""
        return 1 + self.classes.index(cls) * len(self.colors) + self.colors.index(color)

    def cell(self, code: int) -> tuple[str, str] | None:
        """``(class, colour)`` of a token, ``None`` for background."""
        if not 0 <= code < self.vocab_size:
            raise ValueError(f"token {code} is outside the codec's vocabulary of {self.vocab_size}")
        if code == 0:
            return None
        k, c = divmod(code - 1, len(self.colors))
        return self.classes[k], self.colors[c]

    def encode(self, grids: Sequence[np.ndarray]) -> torch.Tensor:
        """N ``[G, G]`` grids -> ``[N, G*G]`` token ids."""
        return torch.as_tensor(np.stack([np.asarray(g).reshape(-1) for g in grids]), dtype=torch.long)

    def decode(self, tokens: torch.Tensor) -> list[np.ndarray]:
        """``[N, G*G]`` token ids -> N ``[G, G]`` int64 grids."""
        if tokens.ndim != 2 or tokens.shape[1] != self.num_tokens:
            raise ValueError(f"expected [N, {self.num_tokens}] image tokens, got {tuple(tokens.shape)}")
        array = tokens.detach().cpu().numpy().astype(np.int64)
        return [row.reshape(self.grid_size, self.grid_size) for row in array]

    def palette(self) -> np.ndarray:
        """``[vocab_size, 3]`` uint8 RGB of each token (objects in their colour)."""
        colours = [BACKGROUND_RGB] + [COLOR_RGB[c] for _ in self.classes for c in self.colors]
        return np.asarray(colours, dtype=np.uint8)

    def to_pil(self, image: np.ndarray, cell_px: int = 32) -> Image.Image:
        """Paint a grid as an RGB image, each cell ``cell_px`` pixels with a thin outline per class region."""
        grid = np.asarray(image)
        rgb = self.palette()[grid]
        big = np.kron(rgb, np.ones((cell_px, cell_px, 1), dtype=np.uint8))
        # Darken cell borders where the class changes so that adjacent objects stay distinguishable.
        edges = np.zeros(grid.shape, dtype=bool)
        edges[:, 1:] |= grid[:, 1:] != grid[:, :-1]
        edges[1:, :] |= grid[1:, :] != grid[:-1, :]
        for r, c in zip(*np.nonzero(edges), strict=True):
            big[r * cell_px : (r + 1) * cell_px, c * cell_px : c * cell_px + 1] //= 2
            big[r * cell_px : r * cell_px + 1, c * cell_px : (c + 1) * cell_px] //= 2
        return Image.fromarray(big)
