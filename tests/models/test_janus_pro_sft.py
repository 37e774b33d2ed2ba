"""SFT of Janus-Pro on real GoT images, at tiny size: image files (local or S3) are VQ-encoded by the policy's own
VQ model (center crop, resize, nearest codebook entry in raster order) as their batch is built, and the SFT
trainer learns from them."""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from gotr1.backends import load_trained_policy
from gotr1.data.curation import COLUMNS
from gotr1.embedded import sft_examples_from_frame
from gotr1.models.janus import JanusPolicy
from gotr1.models.janus_pro import JanusVQCodec, load_janus_pro
from gotr1.synthetic.codec import GridCodec
from gotr1.tracking import JsonlLogger, read_jsonl_metrics
from gotr1.training.config import SFTConfig
from gotr1.training.sft import SFTExample, image_batch, run_sft
from tests.helpers.janus_pro import tiny_janus_pro
from tests.helpers.s3 import loopback_s3

CHAINS = [
    "A <|obj_start|>red dog<|obj_end|> <|box_start|>(0,0),(500,500)<|box_end|> and a <|obj_start|>cup"
    "<|obj_end|> <|box_start|>(500,500),(999,999)<|box_end|><begin_of_image>",
    "A <|obj_start|>dog<|obj_end|> <|box_start|>(250,0),(999,750)<|box_end|><begin_of_image>",
]
PROMPTS = ["a photo of a red dog and a cup", "a photo of a dog"]
COLOURS = [(255, 0, 0), (0, 0, 255), (0, 255, 0), (255, 255, 0)]


def _words(*texts: str) -> tuple[str, ...]:
    plain = [re.sub(r"<\|?[a-z_]+\|?>", " ", t) for t in texts]
    return tuple(sorted({w for t in plain for w in re.findall(r"\w+|[^\w\s]+", t)}))


@pytest.fixture(scope="module")
def janus_pro_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_janus_pro(tmp_path_factory.mktemp("janus-pro"), words=_words(*CHAINS, *PROMPTS))


@pytest.fixture
def policy(janus_pro_dir: Path) -> JanusPolicy:
    torch.set_num_threads(1)
    return load_janus_pro(str(janus_pro_dir), lora_rank=4, lora_alpha=8, dtype=torch.float32)


def _picture(colour: tuple[int, int, int], size: tuple[int, int] = (12, 8)) -> Image.Image:
    """A ``size`` image (width, height) with a ``colour`` square in the middle and grey sides."""
    w, h = size
    pixels = np.full((h, w, 3), 128, dtype=np.uint8)
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    pixels[top : top + side, left : left + side] = colour
    return Image.fromarray(pixels)


def _records(uris: list[str], tokens: list[str] | None = None) -> pd.DataFrame:
    n = len(uris)
    return pd.DataFrame(
        {
            "id": [f"r{i}" for i in range(n)],
            "prompt": [PROMPTS[i % 2] for i in range(n)],
            "chain": [CHAINS[i % 2] for i in range(n)],
            "image_tokens": tokens or [""] * n,
            "image_uri": uris,
            "spec_json": [""] * n,
            "source": ["test"] * n,
        }
    )[list(COLUMNS)]


def test_vq_encoding_center_crops_resizes_and_picks_the_nearest_code(policy: JanusPolicy) -> None:
    codec = policy.codec
    assert isinstance(codec, JanusVQCodec) and codec.image_size == 4  # 2 x 2 tokens, one halving

    pixels = codec.pixels([_picture((255, 0, 0))])
    assert pixels.shape == (1, 3, 4, 4)
    red = torch.tensor([1.0, -1.0, -1.0])[:, None, None].expand(3, 4, 4)
    assert torch.equal(pixels[0], red)  # the grey sides were cropped away; [0, 255] -> [-1, 1]

    images = [
        _picture(c, size) for c, size in zip(COLOURS, [(12, 8), (8, 12), (4, 4), (40, 40)], strict=True)
    ]
    codes = codec.encode_images(images)
    assert codes.shape == (4, codec.num_tokens) and codes.dtype == torch.long

    # Loop reference: each latent cell's nearest codebook entry, in raster order.
    vq = policy.model.model.vqmodel
    with torch.no_grad():
        latents = vq.quant_conv(vq.encoder(codec.pixels(images)))
    book = vq.quantize.embedding.weight
    for n in range(len(images)):
        expected = [
            int(((latents[n, :, y, x] - book) ** 2).sum(dim=1).argmin())
            for y in range(latents.shape[2])
            for x in range(latents.shape[3])
        ]
        assert codes[n].tolist() == expected
    assert [im.size for im in codec.decode(codes)] == [(4, 4)] * 4


def test_image_files_in_s3_are_encoded_when_their_batch_is_built(
    policy: JanusPolicy, monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3

    codec = policy.codec
    assert isinstance(codec, JanusVQCodec)
    images = [_picture(c) for c in COLOURS[:3]]
    uris = [f"s3://got/images/{i}.png" for i in range(3)]
    frame = _records([*uris, "s3://got/ignored.png"], ["", "", "", "1 2 3 4"])
    examples = sft_examples_from_frame(frame, codec)
    assert [(e.image_uri, list(e.image_tokens)) for e in examples] == [
        *[(u, []) for u in uris],
        ("", [1, 2, 3, 4]),  # inline tokens win; the file is never read
    ]
    assert [(e.prompt, e.chain) for e in examples] == list(zip(frame["prompt"], frame["chain"], strict=True))
    with loopback_s3(monkeypatch) as endpoint:
        s3 = boto3.client("s3", endpoint_url=endpoint)
        s3.create_bucket(Bucket="got")
        for i, image in enumerate(images):
            buffer = io.BytesIO()
            image.save(buffer, format="PNG")
            s3.put_object(Bucket="got", Key=f"images/{i}.png", Body=buffer.getvalue())
        batch = image_batch(codec, examples)
    assert batch.tolist() == [*codec.encode_images(images).tolist(), [1, 2, 3, 4]]


def test_records_that_cannot_become_examples_are_named(policy: JanusPolicy, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="record 'r0' has neither image tokens nor an image file"):
        sft_examples_from_frame(_records([""]), policy.codec)
    grid = GridCodec.build(2, ["dog"], ["red"])
    with pytest.raises(ValueError, match=r"record 'r0' \(1 in all\) has an image file.*GridCodec"):
        sft_examples_from_frame(_records([str(tmp_path / "a.png")]), grid)
    with pytest.raises(ValueError, match=r"record 'r0' has 3 image tokens; .*JanusVQCodec makes 4"):
        sft_examples_from_frame(_records([""], ["1 2 3"]), policy.codec)
    # a planner needs no images: nothing is checked or read
    assert sft_examples_from_frame(_records([""]), images=False)[0] == SFTExample(PROMPTS[0], CHAINS[0])

    missing = sft_examples_from_frame(_records([str(tmp_path / "missing.png")]), policy.codec)
    with pytest.raises(FileNotFoundError, match=r"image not found: .*missing\.png"):
        image_batch(policy.codec, missing)
    (tmp_path / "text.png").write_text("not an image")
    not_image = sft_examples_from_frame(_records([str(tmp_path / "text.png")]), policy.codec)
    with pytest.raises(ValueError, match=r"text\.png is not a readable image"):
        image_batch(policy.codec, not_image)
    with pytest.raises(ValueError, match="GridCodec cannot encode image files"):
        image_batch(grid, not_image)


def test_sft_of_janus_pro_on_encoded_images_learns_both_spans(janus_pro_dir: Path, tmp_path: Path) -> None:
    # Full fine-tuning, as GoT-R1's SFT stage is (LoRA is GRPO's); a random tiny model learns quickly that way.
    policy = load_janus_pro(str(janus_pro_dir), lora_rank=0, dtype=torch.float32)
    paths = []
    for i, colour in enumerate(COLOURS):
        paths.append(tmp_path / f"{i}.png")
        _picture(colour).save(paths[-1])
    examples = sft_examples_from_frame(_records([str(p) for p in paths]), policy.codec)
    config = SFTConfig.tiny(
        steps=30, batch_size=4, learning_rate=1e-2, warmup_steps=0, condition_dropout=0.0, log_every=1
    )
    run_sft(config, policy, examples, tmp_path / "run", JsonlLogger(tmp_path / "m.jsonl"), progress=False)

    rows = read_jsonl_metrics(tmp_path / "m.jsonl")
    first, last = rows[0], rows[-1]
    assert last["sft/chain_loss"] < 0.5 * first["sft/chain_loss"], (first, last)
    assert last["sft/image_loss"] < 0.5 * first["sft/image_loss"], (first, last)

    reloaded = load_trained_policy(tmp_path / "run" / "policy", dtype=torch.float32)
    assert isinstance(reloaded, JanusPolicy) and isinstance(reloaded.codec, JanusVQCodec)
    assert policy.tokenizer.get_vocab() == reloaded.tokenizer.get_vocab()
