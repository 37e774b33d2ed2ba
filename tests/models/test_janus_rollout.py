"""Rollout of the tiny Janus policy: layout and grouping, length limit, CFG rows, caches, log-prob equality."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest
import torch

import gotr1.models.decoding as decoding
import gotr1.models.janus as janus
from gotr1.models.janus import JanusPolicy, unconditional_ids
from gotr1.models.tokenizer import format_prompt
from gotr1.reasoning import BEGIN_OF_IMAGE
from tests.models.conftest import CODEC, PROMPTS


def forcing_sampler(policy: JanusPolicy, ends: dict[int, int]) -> Callable[..., torch.Tensor]:
    """The real sampler of the reasoning phase (:func:`gotr1.models.decoding.sample_chains`), except that row ``r``
    draws ``<begin_of_image>`` at text step ``ends[r]``: chains of
    different lengths from an untrained model (whose chains otherwise all run to the limit)."""
    calls = {"text": 0}
    real = decoding.sample

    def spy(logits: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        token = real(logits, generator)
        if logits.shape[-1] == len(policy.tokenizer):  # a text step
            for row, step in ends.items():
                if calls["text"] == step:
                    token[row] = policy.boi_id
            calls["text"] += 1
        return token

    return spy


def test_rollout_layout_grouping_and_begin_of_image(
    policy: JanusPolicy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(decoding, "sample", forcing_sampler(policy, {0: 1, 3: 5}))
    r = policy.rollout(PROMPTS[:2], group_size=3, seed=0)
    n, lc = 6, r.chain_ids.shape[1]
    assert len(r) == n and r.prompts == PROMPTS[:2] and r.group_size == 3
    assert r.image_ids.shape == (n, CODEC.num_tokens) and [g.shape for g in r.images] == [(4, 4)] * n
    assert int(r.image_ids.max()) < CODEC.vocab_size
    assert r.chain_ids[:, -1].eq(policy.boi_id).all() and all(
        t.endswith(BEGIN_OF_IMAGE) for t in r.chain_texts
    )
    # rollout i belongs to prompt i // G: its whole text is <bos> + template(prompt) + chain
    ids = torch.cat([r.prompt_ids, r.chain_ids], 1)
    attn = torch.cat([r.prompt_mask, r.chain_attention], 1).bool()
    for i in range(n):
        text = policy.tokenizer.decode(ids[i][attn[i]].tolist())
        assert text == "<bos>" + format_prompt(PROMPTS[i // 3]) + r.chain_texts[i]
    # row 0 sampled <begin_of_image> at its 2nd token, row 3 at its 6th: trained; the others hit the limit of
    # 12 tokens and got an appended <begin_of_image>, attended but not trained, log-prob 0. A shorter chain is
    # right-aligned in the chain span, whose first columns then hold the end of its prompt (attended).
    assert lc == 13 and r.chain_attention.eq(1).all()
    assert r.chain_mask.sum(1).tolist() == [2, 12, 12, 6, 12, 12]
    assert r.chain_mask[[0, 3], -1].eq(1).all() and r.chain_mask[[1, 2, 4, 5], -1].eq(0).all()
    assert r.logprobs.chain[r.chain_mask == 0].eq(0).all() and r.logprobs.chain[r.chain_mask == 1].lt(0).all()
    assert (r.chain_mask <= r.chain_attention).all()
    assert not r.chain_ids.is_inference() and not r.logprobs.image.is_inference()


def test_recomputed_logprobs_equal_sampling_logprobs(
    policy: JanusPolicy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(decoding, "sample", forcing_sampler(policy, {0: 0, 2: 3, 5: 7}))
    policy.generation = replace(policy.generation, text_temperature=0.7, image_temperature=1.3)
    r = policy.rollout(PROMPTS, 2, seed=1)
    assert len(set(r.chain_mask.sum(1).tolist())) > 2  # different chain lengths, so different padding
    lp = policy.logprobs(r)
    assert torch.allclose(lp.chain, r.logprobs.chain, atol=1e-5, rtol=0)
    assert torch.allclose(lp.image, r.logprobs.image, atol=1e-5, rtol=0)
    assert lp.chain.requires_grad and lp.image.requires_grad
    # at another temperature they differ: the recorded ones are at the sampling temperature
    assert not torch.allclose(policy.logprobs(r, temperature=(1.0, 1.0)).image, r.logprobs.image, atol=1e-3)


def record_image_logits(monkeypatch: pytest.MonkeyPatch) -> list[torch.Tensor]:
    """Spy on the image phase's sampler: the list fills with the logits each image step samples from."""
    seen: list[torch.Tensor] = []
    real = janus.sample

    def spy(logits: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        if logits.shape[-1] == CODEC.vocab_size:
            seen.append(logits.clone())
        return real(logits, generator)

    monkeypatch.setattr(janus, "sample", spy)
    return seen


def test_guided_logprobs_are_the_sampling_distributions(
    policy: JanusPolicy, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = record_image_logits(monkeypatch)
    policy.generation = replace(
        policy.generation, cfg_scale=3.0, image_temperature=1.3, image_logprobs="guided"
    )
    r = policy.rollout(PROMPTS, 2, seed=4)
    drawn = torch.log_softmax(torch.stack(seen, dim=1), -1)  # the sampler sees guided logits / temperature
    drawn = drawn.gather(-1, r.image_ids[..., None])[..., 0]
    assert torch.allclose(r.logprobs.image, drawn, atol=1e-5)  # recorded: what the token was drawn from
    lp = policy.logprobs(r)
    assert torch.allclose(lp.image, r.logprobs.image, atol=1e-5, rtol=0)
    assert torch.allclose(lp.chain, r.logprobs.chain, atol=1e-5, rtol=0)  # text: the conditional head
    conditional = policy.logprobs(r, guided=False).image
    assert not torch.allclose(conditional, lp.image, atol=1e-3)
    assert lp.image.requires_grad


@pytest.mark.parametrize("cfg", [1.0, 3.0])
def test_image_tokens_are_drawn_from_guided_logits(
    policy: JanusPolicy, monkeypatch: pytest.MonkeyPatch, cfg: float
) -> None:
    seen = record_image_logits(monkeypatch)
    policy.generation = replace(policy.generation, cfg_scale=cfg)
    r = policy.rollout(PROMPTS[1:], 2, seed=2)
    guided = torch.stack(seen, dim=1)  # [N, Li, V], image temperature 1
    with torch.no_grad():
        _, cond = policy.span_logits(r)
        ids = torch.cat([r.prompt_ids, r.chain_ids], 1)
        attn = torch.cat([r.prompt_mask, r.chain_attention], 1)
        dropped = unconditional_ids(ids, attn, torch.ones(len(r), dtype=torch.bool), policy.pad_id)
        lp = r.prompt_ids.shape[1]
        _, uncond = policy.span_logits(replace(r, prompt_ids=dropped[:, :lp], chain_ids=dropped[:, lp:]))
    assert torch.allclose(guided, uncond + cfg * (cond - uncond), atol=1e-4)
    assert not torch.allclose(cond, uncond, atol=1e-3)  # the condition matters, so the check has teeth


def test_unconditional_row_keeps_only_first_and_last_token() -> None:
    pad, bos, boi = 0, 1, 9
    ids = torch.tensor([[pad, pad, bos, 5, 6, boi], [bos, 5, 6, 7, 8, boi], [pad, bos, 5, 6, 7, boi]])
    attn = (ids != pad).long()
    rows = torch.tensor([True, True, False])
    expected = torch.tensor([[pad, pad, bos, pad, pad, boi], [bos, pad, pad, pad, pad, boi], ids[2].tolist()])
    assert torch.equal(unconditional_ids(ids, attn, rows, pad), expected)


@pytest.mark.parametrize("cache", ["static", "dynamic", "none"])
def test_caches_give_the_same_rollout(policy: JanusPolicy, cache: str) -> None:
    reference = policy.rollout(PROMPTS[:2], 2, seed=3)
    use_cache = cache != "none"
    kind = cache if use_cache else "static"
    policy.generation = replace(policy.generation, use_cache=use_cache, cache_implementation=kind)
    r = policy.rollout(PROMPTS[:2], 2, seed=3)
    assert torch.equal(r.chain_ids, reference.chain_ids) and torch.equal(r.image_ids, reference.image_ids)
    assert torch.allclose(r.logprobs.image, reference.logprobs.image, atol=1e-5)
    assert torch.allclose(policy.logprobs(r).chain, r.logprobs.chain, atol=1e-5)


def test_rollout_is_reproducible_with_a_seed(policy: JanusPolicy) -> None:
    a = policy.rollout([PROMPTS[0]], 3, seed=11)
    b = policy.rollout([PROMPTS[0]], 3, seed=11)
    c = policy.rollout([PROMPTS[0]], 3, seed=12)
    assert a.chain_texts == b.chain_texts and torch.equal(a.image_ids, b.image_ids)
    assert a.chain_texts != c.chain_texts or not torch.equal(a.image_ids, c.image_ids)
    assert policy.rollout([PROMPTS[0]], 1).image_ids.shape == (1, 16)  # unseeded works too


def test_rollout_restores_training_mode_and_rejects_bad_arguments(policy: JanusPolicy) -> None:
    policy.model.train()
    policy.rollout([PROMPTS[0]], 1, seed=0)
    assert policy.model.training
    with pytest.raises(ValueError, match="group_size"):
        policy.rollout([PROMPTS[0]], 0)
    with pytest.raises(ValueError, match="at least one prompt"):
        policy.rollout([], 2)
