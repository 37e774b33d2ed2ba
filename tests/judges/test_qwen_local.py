"""The in-process Qwen2.5-VL judge backend on a TINY random Qwen2.5-VL saved to disk and loaded as a user would.

The checkpoint is built offline: ``Qwen2_5_VLConfig`` with tiny sub-configs (real patch 14 x merge 2, so the judge's
image sizes are the real ones), a character-level tokenizer holding Qwen's special tokens and Qwen's chat template,
and Qwen's image processor saved with a pixel budget that WOULD shrink the judge's images, to show the backend
never lets it. Replies of a random model are gibberish: the judge must count them as failures. Parsing of real
replies is exercised by scripting ``generate`` with recorded Qwen-style replies, decoded by the backend itself.
"""

from __future__ import annotations

import json
import logging
import shutil
import string
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from PIL import Image
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import (
    PreTrainedTokenizerFast,
    Qwen2_5_VLConfig,
    Qwen2_5_VLForConditionalGeneration,
    Qwen2_5_VLProcessor,
)
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil
from transformers.processing_utils import ProcessorMixin

from gotr1.backends import JudgeSpec, build_judge
from gotr1.judges.base import COMPONENTS, JudgeRequest
from gotr1.judges.mllm import (
    PI_RUBRIC,
    SEM_RUBRIC,
    SPA_RUBRIC,
    ChatRequest,
    MLLMJudge,
    grounding_prompt,
    parse_grounding,
    parse_score,
    smart_resize,
)
from gotr1.judges.qwen_local import QwenVLBackend
from gotr1.reasoning import GoTChain, parse
from gotr1.reasoning.chain import Box
from gotr1.reasoning.geometry import pixels_to_box
from gotr1.synthetic.world import WorldConfig, sample_dataset

WORLD = WorldConfig()
CODEC = WORLD.codec()
SPECIAL = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
]
SPECIAL += ["<|video_pad|>"]
# Qwen2-VL / Qwen2.5-VL's chat template (as shipped with the instruct checkpoints).
QWEN_CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}{% if add_vision_id %}Picture {{ image_count.value }}: "
    "{% endif %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}{% set video_count.value = video_count.value + 1 %}"
    "{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
# A checkpoint's image processor config that would shrink a 252 x 252 image to 56 x 56 if it were allowed to resize.
SHRINKING_MAX_PIXELS = 28 * 28 * 4


def _tokenizer() -> PreTrainedTokenizerFast:
    vocab = {token: i for i, token in enumerate([*SPECIAL, "<unk>", *sorted(set(string.printable))])}
    model = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    model.pre_tokenizer = pre_tokenizers.Split("", "isolated")  # one token per character
    model.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(
        tokenizer_object=model,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token="<unk>",
        additional_special_tokens=SPECIAL[1:],
        chat_template=QWEN_CHAT_TEMPLATE,
    )


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("qwen_tiny")
    tokenizer = _tokenizer()
    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in SPECIAL}
    config = Qwen2_5_VLConfig(
        text_config={
            "vocab_size": len(tokenizer),
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "num_key_value_heads": 1,
            "max_position_embeddings": 4096,
            "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3]},
            "bos_token_id": ids["<|endoftext|>"],
            "eos_token_id": ids["<|im_end|>"],
            "pad_token_id": ids["<|endoftext|>"],
        },
        vision_config={
            "depth": 1,
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_heads": 2,
            "out_hidden_size": 32,
            "patch_size": 14,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
            "window_size": 112,
            "fullatt_block_indexes": [0],
        },
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
    )
    torch.manual_seed(0)
    Qwen2_5_VLForConditionalGeneration(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    Qwen2VLImageProcessorPil(max_pixels=SHRINKING_MAX_PIXELS).save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def backend(checkpoint: Path) -> QwenVLBackend:
    return QwenVLBackend(str(checkpoint), device="cpu", batch_size=3, max_new_tokens=6)


def _requests(n: int = 2) -> list[JudgeRequest]:
    out = []
    for s in sample_dataset(WORLD, n, seed=3):
        chain = parse(s.chain_text)
        assert isinstance(chain, GoTChain)
        out.append(JudgeRequest(s.prompt, chain, s.grid, s.spec))
    return out


def _chat_requests() -> list[ChatRequest]:
    red = Image.new("RGB", (252, 252), (200, 30, 30))
    wide = Image.new("RGB", (280, 168), (30, 30, 200))
    return [
        ChatRequest(PI_RUBRIC, "Prompt: a red cube", red),
        ChatRequest(SEM_RUBRIC, "Prompt: a cube\nCaption: a red cube on a table"),
        ChatRequest("", grounding_prompt("red cube"), red),
        ChatRequest(SPA_RUBRIC, "Prompt: a cube left of a ball", wide),
        ChatRequest("", "Say hello."),
    ]


# -- the backend on its own ------------------------------------------------------------------------------------


def test_a_batch_gets_one_text_reply_per_request_in_order(checkpoint: Path) -> None:
    backend = QwenVLBackend(str(checkpoint), device="cpu", batch_size=2, max_new_tokens=6)
    requests = _chat_requests()
    replies = backend.complete(requests)
    assert len(replies) == len(requests) and all(isinstance(r, str) for r in replies)
    assert len(set(replies)) > 1  # random weights, but each request gets its own reply
    assert (backend.calls, backend.failures) == (5, 0)
    # Left padding, mixed image / text-only batches and the length ordering change nothing: each reply is what
    # the request gets alone (greedy decoding).
    assert [backend.complete([r])[0] for r in requests] == replies
    assert backend.model.dtype == torch.float32 and backend.device.type == "cpu"


def test_images_reach_the_model_at_the_judges_size(backend: QwenVLBackend) -> None:
    """The saved processor would shrink a 252 x 252 image to 56 x 56; the backend must keep Qwen's size so that
    grounding pixels map back with the size the judge sent."""
    image = CODEC.to_pil(_requests(1)[0].image)
    resized = image.resize(smart_resize(*image.size))  # what MLLMJudge sends
    assert resized.size == (252, 252)
    batch = backend.inputs([backend.prepare(ChatRequest("", "where?", resized))])
    assert batch["image_grid_thw"].tolist() == [[1, 252 // 14, 252 // 14]]
    # An image nobody resized is brought to the size Qwen would use (multiples of 28), never shrunk further.
    batch = backend.inputs([backend.prepare(ChatRequest("", "where?", image))])
    assert batch["image_grid_thw"].tolist() == [[1, 18, 18]]


def test_inputs_match_the_real_qwen_processor(
    backend: QwenVLBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The backend builds inputs without ``Qwen2_5_VLProcessor`` (it cannot be built without torchvision). Build the
    real one anyway, skipping only its class check of the absent video processor, and compare its output."""
    check = ProcessorMixin.check_argument_for_proper_class

    def lenient(self: ProcessorMixin, name: str, argument: Any) -> Any:
        return None if argument is None else check(self, name, argument)

    monkeypatch.setattr(ProcessorMixin, "check_argument_for_proper_class", lenient)
    processor = Qwen2_5_VLProcessor(
        image_processor=backend.image_processor,
        tokenizer=backend.tokenizer,
        video_processor=None,
        chat_template=QWEN_CHAT_TEMPLATE,
    )
    requests = _chat_requests()
    prepared = [backend.prepare(r) for r in requests]
    ours = backend.inputs(prepared)
    messages = []
    for r in requests:
        turn = ([{"role": "system", "content": r.system}] if r.system else []) + [
            {
                "role": "user",
                "content": ([{"type": "image"}] if r.image else []) + [{"type": "text", "text": r.text}],
            }
        ]
        messages.append(turn)
    texts = [processor.apply_chat_template(m, tokenize=False, add_generation_prompt=True) for m in messages]
    assert texts == [text for text, _ in prepared]
    images = [image for _, image in prepared if image is not None]
    theirs = processor(text=texts, images=images, padding=True, return_tensors="pt", do_resize=False)
    assert set(ours) == set(theirs)
    for key in ("input_ids", "attention_mask", "mm_token_type_ids", "image_grid_thw"):
        assert torch.equal(ours[key], theirs[key]), key
    assert torch.allclose(ours["pixel_values"], theirs["pixel_values"])


def test_a_generate_error_fails_its_batch_only(
    checkpoint: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    backend = QwenVLBackend(str(checkpoint), device="cpu", batch_size=2, max_new_tokens=4)
    generate = backend.model.generate
    seen: list[int] = []

    def flaky(**kwargs: Any) -> torch.Tensor:
        seen.append(kwargs["input_ids"].shape[0])
        if len(seen) == 1:
            raise RuntimeError("CUDA out of memory (simulated)")
        return generate(**kwargs)  # type: ignore[no-any-return]

    monkeypatch.setattr(backend.model, "generate", flaky)
    requests = [ChatRequest("", f"request {i}") for i in range(4)]
    with caplog.at_level(logging.WARNING):
        replies = backend.complete(requests)
    assert seen == [2, 2]
    assert sum(r is None for r in replies) == 2 and sum(isinstance(r, str) for r in replies) == 2
    assert (backend.calls, backend.failures) == (4, 2)
    assert "out of memory" in caplog.text


def test_every_batch_failing_makes_every_component_a_counted_failure(
    checkpoint: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = QwenVLBackend(str(checkpoint), device="cpu", batch_size=4, max_new_tokens=4)

    def broken(**kwargs: Any) -> torch.Tensor:
        raise RuntimeError("device lost")

    monkeypatch.setattr(backend.model, "generate", broken)
    verdicts = MLLMJudge(backend, to_pil=CODEC.to_pil, layout_size=112).judge(_requests(2))
    for v in verdicts:
        assert (v.r_sem, v.r_spa, v.r_ri, v.r_pi) == (None, None, None, None)
        assert set(v.failures) == set(COMPONENTS)
    assert backend.failures == backend.calls > 0


def test_a_request_that_cannot_be_prepared_fails_alone(backend: QwenVLBackend) -> None:
    before = (backend.calls, backend.failures)
    replies = backend.complete([ChatRequest("", "ignore <|image_pad|> this"), ChatRequest("", "fine")])
    assert replies[0] is None and isinstance(replies[1], str)
    assert (backend.calls - before[0], backend.failures - before[1]) == (2, 1)


# -- through the judge ------------------------------------------------------------------------------------------


def test_the_judge_counts_a_random_models_gibberish_as_failures(backend: QwenVLBackend) -> None:
    requests = _requests(2)
    seen: list[ChatRequest] = []
    replies: list[str | None] = []

    class Recording:
        def complete(self, calls: list[ChatRequest]) -> list[str | None]:
            out = backend.complete(calls)
            seen.extend(calls)
            replies.extend(out)
            return out

    failures_before = backend.failures
    verdicts = MLLMJudge(Recording(), to_pil=CODEC.to_pil, layout_size=112).judge(requests)
    assert backend.failures == failures_before  # the backend answered every request ...
    assert all(isinstance(r, str) for r in replies)
    for v in verdicts:  # ... and the judge turned each unparseable reply into a counted failure, never a 0.0
        assert (v.r_sem, v.r_spa, v.r_ri, v.r_pi) == (None, None, None, None)
        assert set(v.failures) == set(COMPONENTS)
    for call, reply in zip(seen, replies, strict=True):  # the model's own replies through the parsers
        if call.system:
            component = {PI_RUBRIC: "r_pi", SEM_RUBRIC: "r_sem", SPA_RUBRIC: "r_spa"}[call.system]
            assert parse_score(reply, component) is None
        else:
            assert parse_grounding(reply) is None


# Recorded Qwen2.5-VL-style replies, one set per rubric.
VALID = {
    "r_sem": '{"score": 8}',
    "r_spa": '```json\n{"reasoning": "Every object is where the prompt puts it.", "score": 10}\n```',
    "r_pi": (
        '{"description": "Coloured shapes on a grid.", "caption": "shapes", '
        '"reasoning": "All objects and relations match.", "score": 9}'
    ),
}
FAULTY = {
    "r_sem": '```json\n{"score": 7}\n```',  # valid, fenced
    "r_spa": '{"reasoning": "Nothing matches.", "score": 0}',  # off R_spa's 1-10 scale
    "r_pi": "The image matches the prompt well. Score: 8/10",  # not JSON
}


RUBRIC_OF = {"caption evaluator": "r_sem", "planned layout": "r_spa", "compositional accuracy": "r_pi"}


def _pixels(box: Box, size: tuple[int, int]) -> list[int]:
    """A [0, 1000) box in integer pixels of a ``size`` image, as Qwen2.5-VL reports grounding."""
    width, height = size
    return [
        round(v * side / 1000) for v, side in zip(box.as_tuple(), (width, height, width, height), strict=True)
    ]


def _scripted_generate(
    backend: QwenVLBackend, replies: dict[str, str], planned: dict[str, list[Box]] | None
) -> Callable[..., torch.Tensor]:
    """Stands in for ``model.generate``: answers each row of the batch from its prompt, as Qwen would. A grounding
    reply gives the planned boxes of the phrase in pixels of the image THE MODEL SAW (from ``image_grid_thw``), or
    a sentence when ``planned`` is None. Returns prompt + reply ids, right padded, as ``generate`` does."""
    tokenizer = backend.tokenizer

    def generate(**kwargs: Any) -> torch.Tensor:
        input_ids = kwargs["input_ids"]
        grids = iter(kwargs["image_grid_thw"].tolist() if "image_grid_thw" in kwargs else [])
        rows = []
        for row, types in zip(input_ids, kwargs["mm_token_type_ids"], strict=True):
            prompt = tokenizer.decode(row, skip_special_tokens=False)
            seen = None
            if bool(types.any()):
                _, grid_h, grid_w = next(grids)
                seen = (grid_w * 14, grid_h * 14)
            if "Locate the" in prompt:
                assert seen is not None
                phrase = prompt.split("Locate the ")[1].split(", report")[0]
                if planned is None:
                    reply = "I cannot find it."
                else:
                    found = [{"bbox_2d": _pixels(box, seen), "label": phrase} for box in planned[phrase]]
                    reply = f"```json\n{json.dumps(found)}\n```"
            else:
                (reply,) = [replies[c] for key, c in RUBRIC_OF.items() if key in prompt]
            rows.append(torch.tensor(tokenizer(reply + "<|im_end|>", add_special_tokens=False)["input_ids"]))
        width = max(len(r) for r in rows)
        pad = tokenizer.pad_token_id
        new = torch.stack([torch.cat([r, torch.full((width - len(r),), pad)]) for r in rows])
        return torch.cat([input_ids, new], dim=1)

    return generate


def _plan(requests: list[JudgeRequest]) -> dict[str, list[Box]]:
    planned: dict[str, list[Box]] = {}
    for request in requests:
        assert request.chain is not None
        for obj in request.chain.objects:
            planned.setdefault(obj.phrase, []).append(obj.box)
    return planned


def test_recorded_replies_are_scored_and_grounded_back_to_the_plan(
    backend: QwenVLBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    requests = _requests(2)
    monkeypatch.setattr(backend.model, "generate", _scripted_generate(backend, VALID, _plan(requests)))
    verdicts = MLLMJudge(backend, to_pil=CODEC.to_pil).judge(requests)
    for v in verdicts:
        assert v.failures == ()
        assert (v.r_sem, v.r_spa, v.r_pi) == (0.8, 1.0, 0.9)
        # Boxes reported in pixels of the 252 x 252 image the model saw map back onto the plan (rounding only).
        assert v.r_ri is not None and v.r_ri > 0.95


def test_recorded_faulty_replies_fail_only_their_components(
    backend: QwenVLBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(backend.model, "generate", _scripted_generate(backend, FAULTY, None))
    before = backend.failures
    for v in MLLMJudge(backend, to_pil=CODEC.to_pil, layout_size=112).judge(_requests(2)):
        assert v.failures == ("r_pi", "r_ri", "r_spa")
        assert (v.r_sem, v.r_spa, v.r_ri, v.r_pi) == (0.7, None, None, None)
    assert backend.failures == before  # replies arrived; the judge rejected their content


def test_grounding_reply_in_resized_pixels_maps_back_to_the_canvas() -> None:
    size = smart_resize(256, 256)
    reply = '```json\n[{"bbox_2d": [63, 126, 189, 252], "label": "red cube"}]\n```'
    boxes = parse_grounding(reply)
    assert boxes == [(63.0, 126.0, 189.0, 252.0)]
    box = pixels_to_box(*boxes[0], *size)
    assert (box.x1, box.y1, box.x2, box.y2) == (250, 500, 750, 999)
    assert parse_grounding('{"bbox_2d": [1, 2, 3]}') is None and parse_grounding("It is on the left.") is None


# -- configuration ----------------------------------------------------------------------------------------------


def test_build_judge_loads_the_local_judge(checkpoint: Path) -> None:
    spec = JudgeSpec.from_dict(
        {"kind": "qwen_local", "path": str(checkpoint), "device": "cpu", "batch_size": 4, "max_new_tokens": 3}
    )
    judge = build_judge(spec, CODEC)
    assert isinstance(judge, MLLMJudge) and isinstance(judge.backend, QwenVLBackend)
    assert (judge.backend.batch_size, judge.backend.max_new_tokens) == (4, 3)
    verdict = judge.judge(_requests(1))[0]
    assert set(verdict.failures) == set(COMPONENTS)
    assert judge.backend.calls > 0 and judge.backend.failures == 0


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"kind": "qwen_local"}, "judge.path"),
        ({"kind": "qwen_local", "path": " "}, "judge.path"),
        ({"kind": "qwen_local", "path": "p", "batch_size": 0}, "judge.batch_size"),
        ({"kind": "qwen_local", "path": "p", "batch_size": True}, "judge.batch_size"),
        ({"kind": "qwen_local", "path": "p", "max_new_tokens": -1}, "judge.max_new_tokens"),
        ({"kind": "qwen_local", "path": "p", "device": "gpu"}, "judge.device"),
        ({"kind": "qwen_local", "path": "p", "device": 0}, "judge.device"),
        ({"kind": "qwen_locale", "path": "p"}, "judge.kind"),
        ({"kind": "qwen_local", "path": "p", "temperature": 0.0}, "unknown keys"),
    ],
)
def test_bad_judge_specs_name_the_field(data: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        JudgeSpec.from_dict(data)


def test_backend_rejects_what_it_cannot_use(checkpoint: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="batch_size"):
        QwenVLBackend(str(checkpoint), device="cpu", batch_size=0)
    other = tmp_path / "patch16"
    shutil.copytree(checkpoint, other)
    config = json.loads((other / "preprocessor_config.json").read_text())
    (other / "preprocessor_config.json").write_text(json.dumps({**config, "patch_size": 16}))
    with pytest.raises(ValueError, match="multiples of 28"):
        QwenVLBackend(str(other), device="cpu")


def test_a_processor_level_chat_template_is_used(checkpoint: Path, tmp_path: Path) -> None:
    """Checkpoints may ship the template as the processor's ``chat_template.json`` only."""
    other = tmp_path / "legacy"
    shutil.copytree(checkpoint, other)
    (other / "chat_template.jinja").unlink()
    config = json.loads((other / "tokenizer_config.json").read_text())
    config.pop("chat_template", None)
    (other / "tokenizer_config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="no chat template"):
        QwenVLBackend(str(other), device="cpu")
    (other / "chat_template.json").write_text(json.dumps({"chat_template": QWEN_CHAT_TEMPLATE}))
    backend = QwenVLBackend(str(other), device="cpu", max_new_tokens=2)
    assert backend.render(ChatRequest("", "hi")).startswith(
        "<|im_start|>system\nYou are a helpful assistant."
    )
    assert isinstance(backend.complete([ChatRequest("", "hi")])[0], str)
