"""The planner + executor policy in the synthetic world: a tiny Llama planner writes the chain, the world's painter
draws it. Rollout layout and grouping, exact chain log-probs, the painted image is ``paint(parse(chain))``, GRPO
trains the planner's chain only and never the executor, save/load."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from transformers import LlamaForCausalLM, PreTrainedTokenizerFast

from gotr1.embedded import EmbeddedConfig, rl_prompts, sft_examples, world_vocabulary
from gotr1.judges.verifier import VerifierJudge
from gotr1.models.base import Policy
from gotr1.models.executors import WorldPainter
from gotr1.models.janus import GenerationSettings
from gotr1.models.planner import PlannerPolicy
from gotr1.models.tokenizer import build_tokenizer, format_prompt
from gotr1.reasoning.chain import BEGIN_OF_IMAGE, GoTChain, parse
from gotr1.rewards import RewardConfig
from gotr1.synthetic.detect import paint
from gotr1.tracking import JsonlLogger, read_jsonl_metrics
from gotr1.training.config import GRPOConfig, SFTConfig
from gotr1.training.grpo import run_grpo
from gotr1.training.sft import run_sft

from .conftest import CHAINS, CODEC, PROMPTS, SMALL

WORLD = EmbeddedConfig.smoke()
SUM_REWARD = RewardConfig(kind="sum", weights={"r_sem": 1.0, "r_spa": 1.0, "r_ri": 1.0, "r_pi": 1.0})
BROKEN = "A <|obj_start|>red dog<|obj_end|> in the middle.<begin_of_image>"  # an object without a box


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def world_tokenizer() -> PreTrainedTokenizerFast:
    texts = [t for e in sft_examples(WORLD) for t in (e.prompt, e.chain)]
    items = rl_prompts(WORLD)
    return build_tokenizer(
        [*PROMPTS, *CHAINS, *texts, *(it.prompt for it in items), *world_vocabulary(WORLD.world)]
    )


def _planner(tokenizer: PreTrainedTokenizerFast, max_chain_tokens: int = 12, seed: int = 0) -> PlannerPolicy:
    assert WORLD.world.codec() == CODEC
    generation = GenerationSettings(max_chain_tokens=max_chain_tokens, cfg_scale=1.0)
    return PlannerPolicy.tiny(tokenizer, WorldPainter(CODEC), SMALL, generation, seed=seed)


class SpyPainter(WorldPainter):
    """The world's painter, recording what it was asked to draw."""

    def __init__(self) -> None:
        super().__init__(CODEC)
        self.calls: list[tuple[list[GoTChain | None], list[str], list[int] | None]] = []

    def draw(self, chains: Any, prompts: Any, seeds: Any = None) -> list[np.ndarray]:
        self.calls.append((list(chains), list(prompts), None if seeds is None else list(seeds)))
        return super().draw(chains, prompts, seeds)


def test_rollout_layout_grouping_and_seeding(world_tokenizer: PreTrainedTokenizerFast) -> None:
    policy = _planner(world_tokenizer)
    assert isinstance(policy, Policy) and isinstance(policy.model, LlamaForCausalLM)
    prompts = PROMPTS[:2]
    r = policy.rollout(prompts, 3, seed=0)
    n, li = 6, CODEC.num_tokens
    assert len(r) == n and r.prompts == prompts and r.group_size == 3
    lc = r.chain_ids.shape[1]
    assert r.prompt_ids.shape == r.prompt_mask.shape and r.prompt_ids.shape[0] == n
    assert r.chain_mask.shape == r.chain_attention.shape == r.logprobs.chain.shape == (n, lc)
    assert r.image_ids.shape == r.logprobs.image.shape == (n, li)
    assert torch.equal(r.logprobs.image, torch.zeros(n, li))
    assert (r.chain_ids[:, -1] == policy.boi_id).all()
    assert (r.chain_mask <= r.chain_attention).all()
    assert bool((r.logprobs.chain[r.chain_mask == 0] == 0).all())
    assert bool((r.logprobs.chain[r.chain_mask == 1] < 0).all())
    for i in range(n):
        ids = torch.cat([r.prompt_ids[i], r.chain_ids[i]])[
            torch.cat([r.prompt_mask[i], r.chain_attention[i]]) == 1
        ]
        text = world_tokenizer.decode(ids.tolist(), skip_special_tokens=False)
        assert text == "<bos>" + format_prompt(prompts[i // 3]) + r.chain_texts[i]
        assert r.chain_texts[i].endswith(BEGIN_OF_IMAGE) and r.chain_texts[i].count(BEGIN_OF_IMAGE) == 1
        # A chain cut at the budget has the appended <begin_of_image> attended but not trained.
        sampled = int(r.chain_mask[i].sum())
        assert sampled == 12 or r.chain_mask[i, -1] == 1
    again, other = policy.rollout(prompts, 3, seed=0), policy.rollout(prompts, 3, seed=1)
    assert again.chain_texts == r.chain_texts and torch.equal(again.logprobs.chain, r.logprobs.chain)
    assert other.chain_texts != r.chain_texts


def test_recomputed_chain_logprobs_equal_the_sampled_ones_with_gradients(
    world_tokenizer: PreTrainedTokenizerFast,
) -> None:
    policy = _planner(world_tokenizer, max_chain_tokens=16)
    r = policy.rollout(PROMPTS, 2, seed=3)
    lp = policy.logprobs(r)
    torch.testing.assert_close(lp.chain, r.logprobs.chain, atol=1e-5, rtol=1e-5)
    assert torch.equal(lp.image, torch.zeros_like(r.logprobs.image)) and not lp.image.requires_grad
    lp.chain.sum().backward()
    grads = [p.grad for p in policy.trainable_parameters()]
    assert all(g is not None for g in grads) and sum(float(g.abs().sum()) for g in grads if g is not None) > 0


def test_the_drawn_image_is_exactly_paint_of_the_parsed_chain(
    world_tokenizer: PreTrainedTokenizerFast, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The chains are fixed (a parsed two-object chain, an uncoloured dog, an unparseable one) so that the
    executor's wiring is checked on chains that paint something; sampling is checked above."""
    spy = SpyPainter()
    policy = PlannerPolicy.tiny(
        world_tokenizer, spy, SMALL, GenerationSettings(max_chain_tokens=12, cfg_scale=1.0)
    )
    texts = [CHAINS[1], CHAINS[2], BROKEN]
    rows = [world_tokenizer(t, add_special_tokens=False).input_ids for t in texts]

    def fixed(prompt_rows: list[list[int]], gen: torch.Generator) -> Any:
        return rows, [[-1.0] * len(t) for t in rows], [[True] * len(t) for t in rows]

    monkeypatch.setattr(policy, "_sample_chains", fixed)
    r = policy.rollout(["p0", "p1", "p2"], 1, seed=0)
    assert r.chain_texts == texts
    parsed = [parse(t) for t in texts]
    assert isinstance(parsed[0], GoTChain) and isinstance(parsed[1], GoTChain)
    assert not isinstance(parsed[2], GoTChain)
    expected = [paint(parsed[0].objects, CODEC), paint(parsed[1].objects, CODEC), np.zeros((4, 4), np.int64)]
    for got, want in zip(r.images, expected, strict=True):
        np.testing.assert_array_equal(got, want)
    assert (expected[0] != 0).sum() >= 4  # the blue cat and the red cup are painted
    assert torch.equal(r.image_ids, CODEC.encode(expected))
    ((chains, prompts, seeds),) = spy.calls
    assert chains == [parsed[0], parsed[1], None] and prompts == ["p0", "p1", "p2"]
    assert seeds is not None and len(set(seeds)) == 3


def _grpo(policy: PlannerPolicy, tmp: Path, **overrides: Any) -> dict[str, float]:
    items = rl_prompts(WORLD)
    config = GRPOConfig.tiny(
        **{
            "steps": 2,
            "prompts_per_step": 4,
            "group_size": 8,
            "learning_rate": 1e-2,
            "beta": 0.01,
            "max_chain_tokens": 64,
            "text_temperature": 0.5,
            "reward": SUM_REWARD,
            "checkpoint_every": 1000,
            "autocast": "fp32",
            "log_every": 1,
            **overrides,
        }
    )
    run_grpo(config, policy, items, VerifierJudge(CODEC), tmp, JsonlLogger(tmp / "m.jsonl"), progress=False)
    return read_jsonl_metrics(tmp / "m.jsonl")[-1]


@pytest.fixture(scope="module")
def warm_state(
    world_tokenizer: PreTrainedTokenizerFast, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, torch.Tensor]:
    """A planner warmed up by 60 steps of the SFT trainer on the world's chains (about 3 s; chain only, its metrics
    have no image loss): it writes GoT-like chains, some of which parse, so the verifier judge's rewards differ
    within a group."""
    torch.set_num_threads(1)
    policy = _planner(world_tokenizer)
    folder = tmp_path_factory.mktemp("planner-sft")
    config = SFTConfig.tiny(steps=60, batch_size=16, learning_rate=1e-2, warmup_steps=0, log_every=1)
    run_sft(config, policy, sft_examples(WORLD), folder, JsonlLogger(folder / "m.jsonl"), progress=False)
    rows = read_jsonl_metrics(folder / "m.jsonl")
    assert np.mean([r["sft/chain_loss"] for r in rows[-5:]]) < 0.5 * np.mean(
        [r["sft/chain_loss"] for r in rows[:5]]
    )
    assert all("sft/image_loss" not in r and r["sft/loss"] == r["sft/chain_loss"] for r in rows)
    assert isinstance(PlannerPolicy.from_pretrained(folder / "policy"), PlannerPolicy)
    return {k: v.detach().clone() for k, v in policy.model.state_dict().items()}


def _warm_planner(
    tokenizer: PreTrainedTokenizerFast, state: dict[str, torch.Tensor], executor: Any = None
) -> Any:
    policy = PlannerPolicy.tiny(
        tokenizer, executor or WorldPainter(CODEC), SMALL, GenerationSettings(cfg_scale=1.0)
    )
    policy.model.load_state_dict(state)
    return policy


def test_grpo_trains_the_planner_and_never_the_executor(
    world_tokenizer: PreTrainedTokenizerFast, warm_state: dict[str, torch.Tensor], tmp_path: Path
) -> None:
    spy = SpyPainter()
    policy = _warm_planner(world_tokenizer, warm_state, spy)
    before = {n: p.detach().clone() for n, p in policy.model.named_parameters()}
    metrics = _grpo(policy, tmp_path, weight_decay=0.0)
    after = dict(policy.model.named_parameters())
    moved = [n for n, b in before.items() if not torch.equal(b, after[n])]
    # Everything that produces chain tokens moves (only the embedding rows of never-seen tokens could not).
    assert [n for n in before if "embed_tokens" not in n] == [n for n in moved if "embed_tokens" not in n]
    assert len(spy.calls) == 2 and all(len(chains) == 32 for chains, _, _ in spy.calls)
    rows = read_jsonl_metrics(tmp_path / "m.jsonl")
    assert min(r["grpo/zero_signal_group_fraction"] for r in rows) < 1.0  # the judge's rewards differed
    assert policy.executor is spy and spy.codec == CODEC
    assert metrics["grpo/image_length"] == CODEC.num_tokens and metrics["grpo/kl_image"] == 0.0
    assert metrics["reward/total"] >= 0.0 and np.isfinite(metrics["grpo/loss"])
    # The final planner reloads, with the world painter as its executor.
    loaded = PlannerPolicy.from_pretrained(tmp_path / "policy")
    assert isinstance(loaded.executor, WorldPainter) and loaded.executor.codec == CODEC
    for name, p in loaded.model.named_parameters():
        assert torch.equal(p, after[name]), name


def test_grpo_loss_covers_the_chain_only(
    world_tokenizer: PreTrainedTokenizerFast,
    warm_state: dict[str, torch.Tensor],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The same run with the painter's grid tokens in the image span, and with an empty image span, logs the same
    loss and gradient norm: the executor's image span adds nothing to the planner's loss."""
    runs = []
    for keep_image_span in (True, False):
        policy = _warm_planner(world_tokenizer, warm_state)
        if not keep_image_span:
            monkeypatch.setattr(
                policy.executor, "image_ids", lambda images: torch.zeros(len(images), 0, dtype=torch.long)
            )
        runs.append(_grpo(policy, tmp_path / str(keep_image_span), steps=1, loss_aggregation="dapo"))
    with_span, without = runs
    assert with_span["grpo/image_length"] == CODEC.num_tokens and without["grpo/image_length"] == 0
    for key in ("grpo/loss", "grpo/grad_norm", "grpo/kl", "reward/total"):
        assert with_span[key] == pytest.approx(without[key], rel=1e-5, abs=1e-7), key
    assert with_span["grpo/grad_norm"] > 0


def test_lora_reference_and_save_load_round_trip(
    world_tokenizer: PreTrainedTokenizerFast, tmp_path: Path
) -> None:
    policy = _planner(world_tokenizer)
    r = policy.rollout(PROMPTS[:1], 2, seed=0)
    policy.add_lora(r=4, alpha=8)
    names = {n for n, p in policy.model.named_parameters() if p.requires_grad}
    assert names and all("lora_" in n for n in names)
    # Nudge the adapters so that the policy and its reference differ.
    with torch.no_grad():
        for p in policy.trainable_parameters():
            p.add_(0.05)
    live = policy.logprobs(r).chain
    with policy.reference():
        ref = policy.logprobs(r).chain
    assert not torch.allclose(live, ref)
    policy.save_pretrained(tmp_path / "ckpt")
    loaded = PlannerPolicy.from_pretrained(tmp_path / "ckpt")
    assert loaded.has_lora and isinstance(loaded.executor, WorldPainter)
    torch.testing.assert_close(loaded.logprobs(r).chain, live, atol=1e-6, rtol=1e-5)
    with loaded.reference():
        torch.testing.assert_close(loaded.logprobs(r).chain, ref, atol=1e-6, rtol=1e-5)
    assert loaded.generation == policy.generation
    with pytest.raises(FileNotFoundError, match="planner checkpoint"):
        PlannerPolicy.from_pretrained(tmp_path)


def test_got_tokens_are_added_to_a_tokenizer_that_lacks_them(tmp_path: Path) -> None:
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {"<pad>": 0, "<eos>": 1, "[UNK]": 2, "a": 3, "dog": 4}
    raw = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    raw.pre_tokenizer = pre_tokenizers.Whitespace()
    tok = PreTrainedTokenizerFast(tokenizer_object=raw, eos_token="<eos>", unk_token="[UNK]")
    policy = PlannerPolicy.tiny(tok, WorldPainter(CODEC), SMALL)
    for t in ("<|obj_start|>", "<|obj_end|>", "<|box_start|>", "<|box_end|>", BEGIN_OF_IMAGE):
        assert t in tok.get_vocab()
        assert tok(t, add_special_tokens=False).input_ids == [tok.convert_tokens_to_ids(t)]
    assert policy.pad_id == tok.eos_token_id and policy.bos_id is None
    assert policy.model.get_input_embeddings().weight.shape[0] == len(tok)
    r = policy.rollout(["a dog"], 2, seed=0)
    torch.testing.assert_close(policy.logprobs(r).chain, r.logprobs.chain, atol=1e-5, rtol=1e-5)
