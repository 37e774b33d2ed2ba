"""The tiny unified Janus policy: tokenizer, rollout layout, CFG rows, log-prob equality, save/load, LoRA."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from gotr1.models.janus import GenerationSettings, JanusPolicy, TinyJanusConfig
from gotr1.models.tokenizer import build_tokenizer, format_prompt
from gotr1.reasoning import BEGIN_OF_IMAGE
from gotr1.synthetic.world import WorldConfig, sample_dataset

WORLD = WorldConfig(grid_size=4, classes=("dog", "cat", "cup"), colors=("red", "blue"))
SAMPLES = sample_dataset(WORLD, 40, seed=0)
SMALL = TinyJanusConfig(hidden_size=32, num_layers=2, num_heads=2, intermediate_size=64)


@pytest.fixture(scope="module")
def tokenizer():  # type: ignore[no-untyped-def]
    return build_tokenizer([s.prompt for s in SAMPLES] + [s.chain_text for s in SAMPLES])


@pytest.fixture()
def policy(tokenizer) -> JanusPolicy:  # type: ignore[no-untyped-def]
    return JanusPolicy.tiny(
        tokenizer, WORLD.codec(), SMALL, GenerationSettings(max_chain_tokens=24, cfg_scale=3.0)
    )


def test_tokenizer_is_byte_exact_and_keeps_boxes_short(tokenizer) -> None:  # type: ignore[no-untyped-def]
    for text in [s.chain_text for s in SAMPLES] + [format_prompt(s.prompt) for s in SAMPLES]:
        ids = tokenizer(text, add_special_tokens=False).input_ids
        assert tokenizer.decode(ids) == text
        assert tokenizer.unk_token_id not in ids
    box = tokenizer("(125,250),(499,624)", add_special_tokens=False).input_ids
    assert len(box) == 9
    # A word is one token in the prompt and in a grounded phrase.
    prompt_ids = tokenizer(" red", add_special_tokens=False).input_ids
    phrase_ids = tokenizer("<|obj_start|>red", add_special_tokens=False).input_ids
    assert prompt_ids[-1] == phrase_ids[-1]


def test_rollout_shapes_grouping_and_chains_end_with_begin_of_image(policy: JanusPolicy) -> None:
    prompts = [s.prompt for s in SAMPLES[:3]]
    r = policy.rollout(prompts, group_size=2, seed=0)
    assert len(r) == 6 and r.image_ids.shape == (6, WORLD.codec().num_tokens)
    assert all(t.endswith(BEGIN_OF_IMAGE) for t in r.chain_texts)
    assert r.chain_ids[:, -1].eq(policy.boi_id).all()
    assert [g.shape for g in r.images] == [(4, 4)] * 6
    # rollout i belongs to prompt i // G: identical prompt tokens within a group
    full = torch.cat([r.prompt_ids, r.chain_ids], 1)
    assert full.shape[0] == 6


def test_rollout_is_reproducible_with_a_seed(policy: JanusPolicy) -> None:
    a = policy.rollout([SAMPLES[0].prompt], 3, seed=11)
    b = policy.rollout([SAMPLES[0].prompt], 3, seed=11)
    assert a.chain_texts == b.chain_texts and torch.equal(a.image_ids, b.image_ids)


def test_recomputed_logprobs_equal_sampling_logprobs(policy: JanusPolicy) -> None:
    r = policy.rollout([s.prompt for s in SAMPLES[:4]], 3, seed=1)
    lp = policy.logprobs(r)
    assert torch.allclose(lp.chain, r.logprobs.chain, atol=1e-4)
    assert torch.allclose(lp.image, r.logprobs.image, atol=1e-4)
    assert lp.image.requires_grad


def test_unconditional_row_keeps_only_first_and_last_token(policy: JanusPolicy) -> None:
    batch = policy.teacher_batch(
        [SAMPLES[0].prompt, SAMPLES[1].prompt],
        [SAMPLES[0].chain_text, SAMPLES[1].chain_text],
        WORLD.codec().encode([SAMPLES[0].grid, SAMPLES[1].grid]),
        drop_condition=torch.tensor([False, True]),
    )
    ids = torch.cat([batch.prompt_ids, batch.chain_ids], 1)
    attn = torch.cat([batch.prompt_mask, batch.chain_attention], 1).bool()
    dropped = ids[1][attn[1]].tolist()
    assert dropped[0] == policy.bos_id and dropped[-1] == policy.boi_id
    assert set(dropped[1:-1]) == {policy.pad_id}
    kept = ids[0][attn[0]].tolist()
    assert policy.tokenizer.decode(kept[1:]) == format_prompt(SAMPLES[0].prompt) + SAMPLES[0].chain_text
    assert batch.chain_mask[1].sum() == 0 and batch.chain_mask[0].sum() > 0


def test_teacher_batch_rejects_chains_without_begin_of_image(policy: JanusPolicy) -> None:
    with pytest.raises(ValueError, match="must end with"):
        policy.teacher_batch(["p"], ["no image token"], torch.zeros(1, 16, dtype=torch.long))


def test_save_and_load_round_trip(policy: JanusPolicy, tmp_path: Path) -> None:
    r = policy.rollout([SAMPLES[0].prompt], 2, seed=3)
    policy.save_pretrained(tmp_path / "ckpt")
    loaded = JanusPolicy.from_pretrained(tmp_path / "ckpt")
    assert loaded.codec == policy.codec and loaded.generation == policy.generation
    with torch.no_grad():
        assert torch.allclose(loaded.logprobs(r).image, policy.logprobs(r).image, atol=1e-5)


def test_lora_trains_adapters_only_and_reference_disables_them(policy: JanusPolicy, tmp_path: Path) -> None:
    policy.add_lora(r=4, alpha=8)
    trainable = {n for n, p in policy.model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n for n in trainable)
    r = policy.rollout([SAMPLES[0].prompt], 2, seed=4)
    opt = torch.optim.SGD(policy.trainable_parameters(), lr=1.0)
    for _ in range(2):  # LoRA B starts at zero: the first step moves B, the second makes the output differ
        (-policy.logprobs(r).image.mean()).backward()
        opt.step()
        opt.zero_grad()
    with torch.no_grad():
        live = policy.logprobs(r).image
        with policy.reference():
            ref = policy.logprobs(r).image
    assert not torch.allclose(live, ref)
    policy.save_pretrained(tmp_path / "lora")
    assert (tmp_path / "lora" / "adapter" / "adapter_config.json").is_file()
    reloaded = JanusPolicy.from_pretrained(tmp_path / "lora")
    with torch.no_grad():
        assert torch.allclose(reloaded.logprobs(r).image, live, atol=1e-5)


def test_reference_without_adapters_or_copy_is_an_error(policy: JanusPolicy) -> None:
    with pytest.raises(RuntimeError, match="no reference policy"), policy.reference():
        pass
