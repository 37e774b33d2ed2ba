"""Fixtures for the tiny policy tests: a 4 x 4 grid codec with 3 classes, hand-written GoT chains, a tiny Janus."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import PreTrainedTokenizerFast

from gotr1.models.janus import GenerationSettings, JanusPolicy, TinyJanusConfig
from gotr1.models.tokenizer import build_tokenizer
from gotr1.synthetic.codec import GridCodec

CODEC = GridCodec(4, ("dog", "cat", "cup"), ("red", "blue"))
SMALL = TinyJanusConfig(hidden_size=32, num_layers=2, num_heads=2, intermediate_size=64)

PROMPTS = [
    "a photo of a red dog",
    "a photo of a blue cat left of a red cup",
    "a photo of two dogs",
]
CHAINS = [
    "A <|obj_start|>red dog<|obj_end|> <|box_start|>(250,250),(749,749)<|box_end|> in the middle.<begin_of_image>",
    "A <|obj_start|>blue cat<|obj_end|> <|box_start|>(0,250),(499,749)<|box_end|> left of a "
    "<|obj_start|>red cup<|obj_end|> <|box_start|>(500,250),(999,749)<|box_end|>.<begin_of_image>",
    "Two dogs: a <|obj_start|>dog<|obj_end|> <|box_start|>(0,0),(499,499)<|box_end|> and a "
    "<|obj_start|>dog<|obj_end|> <|box_start|>(500,500),(999,999)<|box_end|>, nothing else.<begin_of_image>",
]


def grid(*cells: tuple[int, int, str, str]) -> np.ndarray:
    """A 4 x 4 grid with ``(row, col, class, colour)`` cells set, background elsewhere."""
    out = np.zeros((4, 4), dtype=np.int64)
    for r, c, cls, color in cells:
        out[r, c] = CODEC.code(cls, color)
    return out


GRIDS = [
    grid((1, 1, "dog", "red"), (1, 2, "dog", "red"), (2, 1, "dog", "red"), (2, 2, "dog", "red")),
    grid((1, 0, "cat", "blue"), (2, 1, "cat", "blue"), (1, 2, "cup", "red"), (2, 3, "cup", "red")),
    grid((0, 0, "dog", "red"), (3, 3, "dog", "blue")),
]


@pytest.fixture(scope="session")
def tokenizer() -> PreTrainedTokenizerFast:
    return build_tokenizer([*PROMPTS, *CHAINS])


@pytest.fixture()
def policy(tokenizer: PreTrainedTokenizerFast) -> JanusPolicy:
    """A fresh tiny policy (hidden 32, 2 layers) per test; chains up to 12 sampled tokens, CFG 3."""
    torch.set_num_threads(1)
    return JanusPolicy.tiny(tokenizer, CODEC, SMALL, GenerationSettings(max_chain_tokens=12, cfg_scale=3.0))


@pytest.fixture()
def image_ids() -> torch.Tensor:
    return CODEC.encode(GRIDS)
