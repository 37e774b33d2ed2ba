"""An in-process judge backend: Qwen2.5-VL run with transformers in this process (no server).

:class:`QwenVLBackend` answers :class:`~gotr1.judges.mllm.ChatRequest` s the way
:class:`~gotr1.judges.http.OpenAIChatBackend` does against vLLM: the same messages (an optional system turn, then
one user turn holding the image, if any, before the text), rendered with the checkpoint's own chat template, greedy
decoding by default, the reply without the prompt. Requests run in batches of ``batch_size`` (left padded, similar
lengths together). An error while generating a batch makes every reply of that batch ``None`` (a counted judge
failure); a request that cannot be prepared (e.g. its text holds an image placeholder) is ``None`` alone. Both are
logged, never raised. ``calls`` and ``failures`` count requests, as on the HTTP backend.

Image size. Qwen2.5-VL reports grounding boxes in pixels of the image its processor produced, and
:class:`~gotr1.judges.mllm.MLLMJudge` maps them back to the [0, 1000) canvas with the size of the image it sent,
which it has already resized with :func:`~gotr1.judges.mllm.smart_resize` (sides multiples of 28, pixel budget
kept). A served model then resizes nothing (the size is a fixed point of its processor), and this backend must not
either: it applies the same ``smart_resize`` (a no-op for the judge's images; it brings any other image to the
size Qwen would have used) and then calls the image processor with ``do_resize=False``, so the checkpoint's
``min_pixels``/``max_pixels`` can never resize the image a second time and the coordinates stay in the frame the
judge converts from. The checkpoint must patchify at 28 pixels (``patch_size * merge_size``, 14 x 2 for every
Qwen2-VL / Qwen2.5-VL), which is checked at load.

Why no ``AutoProcessor``: with the project's pinned environment (transformers 5.23, no torchvision),
``Qwen2_5_VLProcessor`` cannot be constructed (its video-processor slot needs torchvision; ``AutoProcessor`` raises
``ImportError`` for ``Qwen2VLVideoProcessor``). The backend therefore loads the processor's two image-text parts,
``AutoTokenizer`` and ``AutoImageProcessor`` (the PIL image processor when torchvision is absent), and does what
``Qwen2_5_VLProcessor.__call__`` does for images: expand each ``<|image_pad|>`` to ``t*h*w / merge_size**2``
placeholders, tokenize, and mark image tokens in ``mm_token_type_ids`` (which Qwen2.5-VL's generate needs for its
3-D rotary positions). ``tests/judges/test_qwen_local.py`` checks the inputs are identical to the real processor's.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from typing import Any

import torch
from PIL import Image
from transformers import AutoImageProcessor, AutoTokenizer, Qwen2_5_VLForConditionalGeneration
from transformers.utils.hub import cached_file

from gotr1.judges.mllm import ChatRequest, smart_resize

__all__ = ["QWEN_PATCH_FACTOR", "QwenVLBackend"]

log = logging.getLogger(__name__)

QWEN_PATCH_FACTOR = 28  # the factor MLLMJudge's smart_resize rounds to: Qwen's patch 14 x spatial merge 2
IMAGE_TOKEN = "<|image_pad|>"
LEGACY_CHAT_TEMPLATE_FILE = "chat_template.json"  # processor-level template some checkpoints ship


def _positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"QwenVLBackend: {name} must be an integer >= 1, got {value!r}")
    return value


def _processor_chat_template(path: str) -> str | None:
    """The chat template of ``chat_template.json`` beside the checkpoint (local folder or hub cache), if any."""
    try:
        file = cached_file(path, LEGACY_CHAT_TEMPLATE_FILE, _raise_exceptions_for_missing_entries=False)
    except OSError:
        return None
    if file is None or not os.path.isfile(file):
        return None
    with open(file, encoding="utf-8") as handle:
        template = json.load(handle).get("chat_template")
    return template if isinstance(template, str) else None


class QwenVLBackend:
    """Batched greedy generation with a local Qwen2.5-VL checkpoint; counts what failed.

    Args:
        path: a local folder or hub id holding the model, tokenizer and image processor.
        device: ``"cuda"``, ``"cuda:1"``, ``"cpu"``...; default: CUDA when available, else CPU.
        batch_size: most requests per ``generate`` call.
        max_new_tokens: most tokens per reply (R_PI's rubric asks for description, caption and reasoning).
        do_sample: ``False`` (default) decodes greedily, as the HTTP backend's temperature 0.
        dtype: weights' dtype; default bfloat16 on CUDA, float32 on CPU.
    """

    def __init__(
        self,
        path: str,
        device: str | None = None,
        batch_size: int = 8,
        max_new_tokens: int = 512,
        do_sample: bool = False,
        dtype: torch.dtype | None = None,
    ) -> None:
        if not isinstance(path, str) or not path:
            raise ValueError(f"QwenVLBackend: path must be a local folder or a hub id, got {path!r}")
        self.path = path
        self.batch_size = _positive_int("batch_size", batch_size)
        self.max_new_tokens = _positive_int("max_new_tokens", max_new_tokens)
        self.do_sample = do_sample
        self.device = torch.device(device if device else ("cuda" if torch.cuda.is_available() else "cpu"))
        self.dtype = dtype or (torch.bfloat16 if self.device.type == "cuda" else torch.float32)
        self.calls = 0
        self.failures = 0

        # The light parts first, so that a checkpoint this backend cannot use fails before the weights load.
        self.tokenizer: Any = AutoTokenizer.from_pretrained(path, padding_side="left")
        self.image_processor: Any = AutoImageProcessor.from_pretrained(path)  # type: ignore[no-untyped-call]
        factor = int(self.image_processor.patch_size) * int(self.image_processor.merge_size)
        if factor != QWEN_PATCH_FACTOR:
            raise ValueError(
                f"QwenVLBackend: {path} patchifies at {factor} pixels (patch_size x merge_size); MLLMJudge "
                f"resizes images to multiples of {QWEN_PATCH_FACTOR} as Qwen2.5-VL expects"
            )
        self.chat_template: str | None = self.tokenizer.chat_template or _processor_chat_template(path)
        if not self.chat_template:
            raise ValueError(
                f"QwenVLBackend: {path} has no chat template (neither in the tokenizer nor in "
                f"{LEGACY_CHAT_TEMPLATE_FILE})"
            )
        vocab: dict[str, int] = self.tokenizer.get_vocab()
        if IMAGE_TOKEN not in vocab:
            raise ValueError(f"QwenVLBackend: the tokenizer at {path} has no {IMAGE_TOKEN} token")
        self.image_token_id = vocab[IMAGE_TOKEN]
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token

        self.model: Any = Qwen2_5_VLForConditionalGeneration.from_pretrained(
            path, dtype=self.dtype, device_map=str(self.device)
        )
        self.model.eval()  # type: ignore[no-untyped-call]
        if self.model.config.image_token_id != self.image_token_id:
            raise ValueError(
                f"QwenVLBackend: the tokenizer's {IMAGE_TOKEN} is id {self.image_token_id} but the model expects "
                f"{self.model.config.image_token_id}"
            )

    def __repr__(self) -> str:
        return (
            f"QwenVLBackend(path={self.path!r}, device={str(self.device)!r}, batch_size={self.batch_size}, "
            f"max_new_tokens={self.max_new_tokens})"
        )

    # -- request preparation ---------------------------------------------------------------------------------

    @staticmethod
    def prepare_image(image: Image.Image) -> Image.Image:
        """RGB at Qwen's size: unchanged for an image MLLMJudge already resized (see the module docstring)."""
        image = image if image.mode == "RGB" else image.convert("RGB")
        size = smart_resize(*image.size)
        return image if size == image.size else image.resize(size, Image.Resampling.BICUBIC)

    def render(self, request: ChatRequest) -> str:
        """The prompt text of one request, through the checkpoint's chat template (as the HTTP path's messages)."""
        content: list[dict[str, str]] = []
        if request.image is not None:
            content.append({"type": "image"})
        content.append({"type": "text", "text": request.text})
        messages: list[dict[str, Any]] = []
        if request.system:
            messages.append({"role": "system", "content": request.system})
        messages.append({"role": "user", "content": content})
        text = self.tokenizer.apply_chat_template(
            messages, chat_template=self.chat_template, tokenize=False, add_generation_prompt=True
        )
        if not isinstance(text, str):
            raise TypeError(f"the chat template rendered {type(text).__name__}, not text")
        expected = 0 if request.image is None else 1
        if text.count(IMAGE_TOKEN) != expected:  # e.g. the placeholder inside the request's own text
            raise ValueError(
                f"the prompt holds {text.count(IMAGE_TOKEN)} {IMAGE_TOKEN} for {expected} image(s)"
            )
        return text

    def prepare(self, request: ChatRequest) -> tuple[str, Image.Image | None]:
        """One request's prompt text and image, ready to batch."""
        image = None if request.image is None else self.prepare_image(request.image)
        return self.render(request), image

    def inputs(self, prepared: Sequence[tuple[str, Image.Image | None]]) -> dict[str, torch.Tensor]:
        """Model inputs for one batch, as ``Qwen2_5_VLProcessor`` builds them (never resizing the images)."""
        texts = [text for text, _ in prepared]
        images = [image for _, image in prepared if image is not None]
        vision: dict[str, torch.Tensor] = {}
        placeholders = 0
        if images:
            vision = dict(self.image_processor(images=images, do_resize=False, return_tensors="pt"))
            merge = int(self.image_processor.merge_size) ** 2
            counts = [int(grid.prod()) // merge for grid in vision["image_grid_thw"]]
            placeholders = sum(counts)
            per_image = iter(counts)
            texts = [
                text.replace(IMAGE_TOKEN, IMAGE_TOKEN * next(per_image)) if image is not None else text
                for text, image in zip(texts, (image for _, image in prepared), strict=True)
            ]
        tokens = self.tokenizer(texts, padding=True, return_tensors="pt")
        input_ids = tokens["input_ids"]
        mm_token_type_ids = (input_ids == self.image_token_id).long()
        if int(mm_token_type_ids.sum()) != placeholders:
            raise ValueError("image placeholders and image patches disagree after tokenization")
        return {
            "input_ids": input_ids,
            "attention_mask": tokens["attention_mask"],
            "mm_token_type_ids": mm_token_type_ids,
            **vision,
        }

    # -- generation ------------------------------------------------------------------------------------------

    def _generate(self, prepared: Sequence[tuple[str, Image.Image | None]]) -> list[str]:
        batch = self.inputs(prepared)
        batch = {k: v.to(self.device) for k, v in batch.items()}
        if "pixel_values" in batch:
            batch["pixel_values"] = batch["pixel_values"].to(self.dtype)
        with torch.inference_mode():
            output = self.model.generate(
                **batch,
                max_new_tokens=self.max_new_tokens,
                do_sample=self.do_sample,
                pad_token_id=self.tokenizer.pad_token_id,
            )
        replies = self.tokenizer.batch_decode(
            output[:, batch["input_ids"].shape[1] :],
            skip_special_tokens=True,
            clean_up_tokenization_spaces=False,
        )
        if len(replies) != len(prepared):
            raise RuntimeError(f"generate returned {len(replies)} sequences for {len(prepared)} requests")
        return [str(reply) for reply in replies]

    def complete(self, requests: Sequence[ChatRequest]) -> list[str | None]:
        replies: list[str | None] = [None] * len(requests)
        prepared: dict[int, tuple[str, Image.Image | None]] = {}
        for i, request in enumerate(requests):
            try:
                prepared[i] = self.prepare(request)
            except Exception as err:  # one unusable request fails alone
                log.warning("judge request %d could not be prepared (%s: %s)", i, type(err).__name__, err)
        # Similar lengths together: less padding per batch. Replies go back in request order.
        order = sorted(prepared, key=lambda i: self._cost(prepared[i]))
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            try:
                for i, reply in zip(chunk, self._generate([prepared[i] for i in chunk]), strict=True):
                    replies[i] = reply
            except Exception as err:  # a failed batch is counted, never raised
                log.warning("judge batch of %d requests failed (%s: %s)", len(chunk), type(err).__name__, err)
                if self.device.type == "cuda":
                    torch.cuda.empty_cache()
        self.calls += len(replies)
        self.failures += sum(r is None for r in replies)
        return replies

    @staticmethod
    def _cost(prepared: tuple[str, Image.Image | None]) -> int:
        """About how many tokens a prepared request takes: its characters plus its image's merged patches."""
        text, image = prepared
        if image is None:
            return len(text)
        return len(text) + (image.width // QWEN_PATCH_FACTOR) * (image.height // QWEN_PATCH_FACTOR)
