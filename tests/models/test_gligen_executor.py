"""The GLIGEN executor, loaded as a user would from a saved pipeline folder: a TINY StableDiffusionGLIGENPipeline
built from configs (gated-attention UNet, tiny VAE, CLIP text encoder with an offline character-level tokenizer).
Only the call wiring is checked here (phrases, boxes in [0, 1], seeds, sizes); the images are noise."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from PIL import Image

from gotr1.models.executors import BLANK_RGB, GLIGENExecutor, executor_from_dict, gligen_boxes
from gotr1.reasoning.chain import GoTChain, parse

from .conftest import CHAINS


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def _clip_tokenizer_files(folder: Path) -> tuple[Path, Path]:
    """A byte-level CLIP vocabulary with no merges (every character is a token)."""
    bs = (
        list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), 256))
    )
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    chars = [chr(c) for c in cs]
    vocab = {
        t: i for i, t in enumerate([*chars, *(c + "</w>" for c in chars), "<|startoftext|>", "<|endoftext|>"])
    }
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    return folder / "vocab.json", folder / "merges.txt"


@pytest.fixture(scope="module")
def pipeline_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionGLIGENPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    torch.set_num_threads(1)
    torch.manual_seed(0)
    root = tmp_path_factory.mktemp("gligen")
    vocab, merges = _clip_tokenizer_files(root / "tok")
    tokenizer = CLIPTokenizer(vocab=str(vocab), merges=str(merges), model_max_length=77)
    unet = UNet2DConditionModel(
        sample_size=8,
        in_channels=4,
        out_channels=4,
        block_out_channels=(8, 16),
        layers_per_block=1,
        norm_num_groups=8,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=16,
        attention_head_dim=4,
        attention_type="gated",
    )
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        block_out_channels=(8, 16),
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        latent_channels=4,
        norm_num_groups=8,
        sample_size=16,
    )
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=len(tokenizer),
            hidden_size=16,
            intermediate_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            max_position_embeddings=77,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
    )
    scheduler = DDIMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
    )
    pipe = StableDiffusionGLIGENPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(root / "pipeline")
    return root / "pipeline"


def _chains() -> list[GoTChain | None]:
    out = [parse(CHAINS[0]), parse(CHAINS[1])]
    assert all(isinstance(c, GoTChain) for c in out)
    return [*out, None]  # type: ignore[list-item]


def test_draws_one_pil_image_per_chain_with_the_plan_s_phrases_and_boxes(
    pipeline_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    executor = GLIGENExecutor(
        pipeline_dir, num_inference_steps=2, guidance_scale=3.0, scheduled_sampling_beta=0.5
    )
    assert (executor.height, executor.width) == (16, 16)  # UNet sample size 8 x VAE scale 2
    for name in ("unet", "vae", "text_encoder"):
        assert not any(p.requires_grad for p in getattr(executor.pipeline, name).parameters())
    calls: list[dict[str, Any]] = []
    real_call = type(executor.pipeline).__call__

    def spy(self: Any, **kwargs: Any) -> Any:
        calls.append(kwargs)
        return real_call(self, **kwargs)

    monkeypatch.setattr(type(executor.pipeline), "__call__", spy)
    chains = _chains()
    images = executor.draw(chains, ["a red dog", "a blue cat left of a red cup", "two dogs"], seeds=[1, 2, 3])
    assert len(images) == 3 and all(isinstance(im, Image.Image) and im.size == (16, 16) for im in images)
    # The unparseable chain is not drawn: a blank canvas, no pipeline call.
    assert len(calls) == 2
    assert set(images[2].getdata()) == {BLANK_RGB}
    assert calls[0]["prompt"] == "a red dog" and calls[0]["gligen_phrases"] == ["red dog"]
    assert calls[0]["gligen_boxes"] == [[0.25, 0.25, 0.749, 0.749]]
    assert calls[1]["gligen_phrases"] == ["blue cat", "red cup"]
    assert calls[1]["gligen_boxes"] == [[0.0, 0.25, 0.499, 0.749], [0.5, 0.25, 0.999, 0.749]]
    for call in calls:
        assert call["gligen_scheduled_sampling_beta"] == 0.5
        assert call["num_inference_steps"] == 2 and call["guidance_scale"] == 3.0
        assert (call["height"], call["width"]) == (16, 16)
    assert [c["generator"].initial_seed() for c in calls] == [1, 2]
    # A seed per image: the same seed draws the same picture, another seed another one.
    again = executor.draw(chains[:1], ["a red dog"], seeds=[1])[0]
    other = executor.draw(chains[:1], ["a red dog"], seeds=[7])[0]
    assert list(again.getdata()) == list(images[0].getdata())
    assert list(other.getdata()) != list(images[0].getdata())
    assert executor.image_ids(images).shape == (3, 0)
    assert executor.codec.to_pil(images[0]) is images[0]


def test_configured_size_caption_and_round_trip(pipeline_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    executor = GLIGENExecutor(pipeline_dir, num_inference_steps=1, height=24, width=32, caption="chain")
    prompts: list[str] = []
    real_call = type(executor.pipeline).__call__

    def spy(self: Any, **kwargs: Any) -> Any:
        prompts.append(kwargs["prompt"])
        return real_call(self, **kwargs)

    monkeypatch.setattr(type(executor.pipeline), "__call__", spy)
    chain = _chains()[0]
    assert chain is not None
    (image,) = executor.draw([chain], ["ignored"], seeds=[0])
    assert image.size == (32, 24)
    assert prompts == [chain.text_without_boxes]
    rebuilt = executor_from_dict(executor.to_dict())
    assert isinstance(rebuilt, GLIGENExecutor)
    assert (rebuilt.height, rebuilt.width, rebuilt.caption, rebuilt.num_inference_steps) == (
        24,
        32,
        "chain",
        1,
    )


def test_bad_settings_and_inputs_are_refused(pipeline_dir: Path) -> None:
    with pytest.raises(ValueError, match="multiple of 8"):
        GLIGENExecutor(pipeline_dir, height=20)
    with pytest.raises(ValueError, match="caption"):
        GLIGENExecutor(pipeline_dir, caption="both")
    executor = GLIGENExecutor(pipeline_dir, num_inference_steps=1)
    with pytest.raises(ValueError, match="prompts"):
        executor.draw(_chains(), ["only one"])
    assert gligen_boxes([]) == []
