"""Policy selection (gotr1.backends): the specs' validation, the policy SFT starts from for each kind, loading a
pretrained planner, and loading whatever a trainer saved as the class that saved it."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from gotr1.backends import PolicySpec, initial_policy, load_policy, load_trained_policy
from gotr1.embedded import EmbeddedConfig, sft_examples
from gotr1.models.executors import WorldPainter
from gotr1.models.janus import JanusPolicy
from gotr1.models.planner import PlannerPolicy
from gotr1.models.tokenizer import build_tokenizer

SMOKE = EmbeddedConfig.smoke()
CORPUS = [t for e in sft_examples(SMOKE) for t in (e.prompt, e.chain)]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"kind": "gpt"}, "policy.kind must be one of"),
        ({"kind": "janus_pro"}, "policy.path is required"),
        ({"kind": "tiny", "executor": {"kind": "world"}}, "applies to kind 'planner' only"),
        ({"kind": "planner", "executor": {"kind": "sdxl"}}, "executor.kind must be 'world' or 'gligen'"),
        ({"kind": "planner", "executor": {"kind": "gligen"}}, "executor.path is required"),
        ({"kind": "planner", "executor": {"kind": "gligen", "path": "g"}}, "must be the world's painter"),
        ({"kind": "planner", "dtype": "bf16"}, "policy.dtype must name a torch dtype"),
        ({"kind": "planner", "lora": 8}, r"unknown keys \['lora'\]"),
    ],
)
def test_bad_policy_specs_say_which_field_is_wrong(data: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PolicySpec.from_dict(data)


@pytest.mark.parametrize(
    ("data", "in_world", "from_scratch"),
    [
        ({}, True, True),
        ({"kind": "planner"}, True, True),
        ({"kind": "planner", "path": "Qwen/Qwen2.5-0.5B"}, True, False),
        ({"kind": "planner", "path": "p", "executor": {"kind": "gligen", "path": "g"}}, False, False),
        ({"kind": "janus_pro", "path": "deepseek-community/Janus-Pro-1B"}, False, False),
    ],
)
def test_which_policies_draw_in_the_world_and_which_start_from_scratch(
    data: dict[str, object], in_world: bool, from_scratch: bool
) -> None:
    spec = PolicySpec.from_dict(data)
    assert (spec.in_world, spec.trained_from_scratch) == (in_world, from_scratch)


def test_initial_policy_of_each_kind_trained_from_scratch() -> None:
    janus = initial_policy(PolicySpec(), SMOKE, CORPUS)
    assert isinstance(janus, JanusPolicy) and janus.generation.cfg_scale == SMOKE.grpo.cfg_scale

    planner = initial_policy(PolicySpec(kind="planner"), SMOKE, CORPUS)
    assert isinstance(planner, PlannerPolicy) and isinstance(planner.model, LlamaForCausalLM)
    assert isinstance(planner.executor, WorldPainter) and planner.codec == SMOKE.world.codec()
    assert planner.model.config.hidden_size == SMOKE.model.hidden_size
    assert planner.generation.cfg_scale == 1.0  # the executor draws: no guidance
    assert planner.generation.max_chain_tokens == SMOKE.grpo.max_chain_tokens
    # every word of the corpus is known: the tokenizer covers the chains the planner is trained on
    assert planner.tokenizer.unk_token_id not in planner.tokenizer(CORPUS[1]).input_ids

    with pytest.raises(ValueError, match="trained from scratch"):
        load_policy(PolicySpec(kind="planner"))


def _pretrained_causal_lm(path: Path) -> Path:
    """A small causal LM and its tokenizer, saved as a hub checkpoint is."""
    tokenizer = build_tokenizer(CORPUS)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def test_a_pretrained_planner_loads_with_lora_and_reloads_as_a_planner(tmp_path: Path) -> None:
    path = _pretrained_causal_lm(tmp_path / "lm")
    spec = PolicySpec(kind="planner", path=str(path), lora_rank=4, lora_alpha=8, dtype="float32")
    planner = initial_policy(spec, SMOKE, CORPUS)
    assert isinstance(planner, PlannerPolicy) and planner.has_lora
    trainable = [n for n, p in planner.model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)

    planner.save_pretrained(tmp_path / "saved")
    reloaded = load_trained_policy(tmp_path / "saved")
    assert isinstance(reloaded, PlannerPolicy) and reloaded.has_lora
    assert isinstance(reloaded.executor, WorldPainter) and reloaded.codec == planner.codec

    janus = initial_policy(PolicySpec(), SMOKE, CORPUS)
    janus.save_pretrained(tmp_path / "janus")
    assert isinstance(load_trained_policy(tmp_path / "janus"), JanusPolicy)
