"""An offline word-level text tokenizer for the tiny policy, byte-exact on in-vocabulary text.

Pieces are words, integers (0-999 always: one token per coordinate), single punctuation marks, ``),(`` and
whitespace runs; decoding concatenates pieces, so ``decode(encode(t)) == t`` for any text made of known pieces.
The GoT tokens, ``<begin_of_image>`` and the control tokens are special tokens. Spaces are tokens of their own
(rather than a Metaspace prefix) so that a word is the same token in the prompt (" brown") and in a grounded
phrase ("<|obj_start|>brown"): the tiny model then learns to copy words from prompt to plan far sooner than it
learns two tokens per word. ``<|obj_end|> <|box_start|>`` is three tokens, and a box ``(125,250),(499,624)`` is 9.

The chain follows ``Assistant:`` directly: a chain's text is exactly what comes after the template, with no
leading space (the synthetic world writes chains that way; a chain that starts with a space keeps it, as its own
token, so :func:`gotr1.reasoning.parse` and ``render`` round-trip either way).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from gotr1.reasoning.chain import BEGIN_OF_IMAGE, GOT_TOKENS

__all__ = ["PROMPT_TEMPLATE", "SPECIAL_TOKENS", "build_tokenizer", "format_prompt"]

PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "[UNK]"
SPECIAL_TOKENS: tuple[str, ...] = (PAD, BOS, EOS, UNK, *GOT_TOKENS, BEGIN_OF_IMAGE)
# Janus "deepseek" SFT format with an empty system prompt (GOT-R1-FACTS.md section 1).
PROMPT_TEMPLATE = (
    "User: Follow the caption to generate an image through a chain of thought process: {prompt}\n\nAssistant:"
)

_PIECE = r"\),\(|[A-Za-z]+|\d+|\s+|[^\sA-Za-z\d]"
_PIECE_RE = re.compile(_PIECE)
_SPECIAL_RE = re.compile("|".join(re.escape(t) for t in SPECIAL_TOKENS))


def format_prompt(prompt: str) -> str:
    """The model input for a caption (the chain follows ``Assistant:`` directly)."""
    return PROMPT_TEMPLATE.format(prompt=prompt)


def _pieces(text: str) -> Iterable[str]:
    for chunk in _SPECIAL_RE.split(text):
        yield from _PIECE_RE.findall(chunk)


def build_tokenizer(corpus: Iterable[str]) -> PreTrainedTokenizerFast:
    """Build the tokenizer from example texts (prompts and chains).

    Args:
        corpus: texts whose pieces make the vocabulary; integers 0-999, short whitespace runs and the prompt
            template's pieces are always in it.

    Returns:
        A left-padding ``PreTrainedTokenizerFast``; ids are assigned deterministically (special tokens first, then
        pieces sorted), so the same corpus gives the same ids. Unknown pieces encode as ``[UNK]``.
    """
    vocab: dict[str, int] = {tok: i for i, tok in enumerate(SPECIAL_TOKENS)}
    words = {str(n) for n in range(1000)} | {" ", "  ", "\n", "\n\n"}
    words.update(_pieces(format_prompt("a")))
    for text in corpus:
        words.update(_pieces(text))
    for word in sorted(words):
        vocab.setdefault(word, len(vocab))
    model = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    model.pre_tokenizer = pre_tokenizers.Split(Regex(_PIECE), behavior="isolated")
    model.decoder = decoders.Fuse()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=model,
        pad_token=PAD,
        bos_token=BOS,
        eos_token=EOS,
        unk_token=UNK,
        additional_special_tokens=[*GOT_TOKENS, BEGIN_OF_IMAGE],
        clean_up_tokenization_spaces=False,
    )
    tokenizer.padding_side = "left"
    return tokenizer
