"""The offline tokenizer: byte-exact on GoT chains and prompts, short boxes, special tokens kept whole."""

from __future__ import annotations

from pathlib import Path

import pytest
from transformers import PreTrainedTokenizerFast

from gotr1.models.tokenizer import PROMPT_TEMPLATE, build_tokenizer, format_prompt
from gotr1.reasoning import BEGIN_OF_IMAGE, GOT_TOKENS, GoTChain, parse, render
from tests.models.conftest import CHAINS, PROMPTS


def ids(tokenizer: PreTrainedTokenizerFast, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False).input_ids


def test_prompt_template_is_the_paper_one() -> None:
    assert format_prompt("a red dog") == (
        "User: Follow the caption to generate an image through a chain of thought process: a red dog"
        "\n\nAssistant:"
    )
    assert PROMPT_TEMPLATE.endswith("\n\nAssistant:")


@pytest.mark.parametrize("text", [*CHAINS, *(format_prompt(p) for p in PROMPTS)])
def test_decode_of_encode_is_byte_exact(tokenizer: PreTrainedTokenizerFast, text: str) -> None:
    tokens = ids(tokenizer, text)
    assert tokenizer.unk_token_id not in tokens
    assert tokenizer.decode(tokens) == text


def test_prompt_then_chain_round_trips_and_parses(tokenizer: PreTrainedTokenizerFast) -> None:
    for prompt, chain in zip(PROMPTS, CHAINS, strict=True):
        text = format_prompt(prompt) + chain
        assert tokenizer.decode(ids(tokenizer, text)) == text
        # the chain is everything after "Assistant:" with no leading space; parse/render round-trip it
        decoded = tokenizer.decode(ids(tokenizer, text))[len(format_prompt(prompt)) :]
        parsed = parse(decoded)
        assert isinstance(parsed, GoTChain) and render(parsed) == chain
    spaced = " " + CHAINS[0]  # a leading space is kept as its own token
    assert tokenizer.decode(ids(tokenizer, spaced)) == spaced


def test_coordinates_and_special_tokens_are_single_tokens(tokenizer: PreTrainedTokenizerFast) -> None:
    for n in (0, 7, 42, 125, 999):
        assert len(ids(tokenizer, str(n))) == 1
    for special in (*GOT_TOKENS, BEGIN_OF_IMAGE):
        assert len(ids(tokenizer, special)) == 1
    pieces = ids(tokenizer, "<|obj_end|> <|box_start|>")
    assert [tokenizer.decode([t]) for t in pieces] == ["<|obj_end|>", " ", "<|box_start|>"]
    box = ids(tokenizer, "(125,250),(499,624)")
    assert [tokenizer.decode([t]) for t in box] == ["(", "125", ",", "250", "),(", "499", ",", "624", ")"]


def test_words_share_a_token_in_prompt_and_phrase(tokenizer: PreTrainedTokenizerFast) -> None:
    assert ids(tokenizer, " red")[-1] == ids(tokenizer, "<|obj_start|>red")[-1]


def test_unknown_words_and_determinism(tokenizer: PreTrainedTokenizerFast, tmp_path: Path) -> None:
    assert ids(tokenizer, "zebra") == [tokenizer.unk_token_id]
    assert (
        tokenizer.unk_token == "[UNK]" and tokenizer.pad_token == "<pad>" and tokenizer.padding_side == "left"
    )
    again = build_tokenizer(reversed([*PROMPTS, *CHAINS]))
    assert again.get_vocab() == tokenizer.get_vocab()
    tokenizer.save_pretrained(tmp_path)
    loaded = PreTrainedTokenizerFast.from_pretrained(tmp_path)
    assert ids(loaded, CHAINS[1]) == ids(tokenizer, CHAINS[1])
    assert loaded.decode(ids(loaded, CHAINS[1])) == CHAINS[1]
