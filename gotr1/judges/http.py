"""A judge backend for an OpenAI-compatible chat-completions server (what vLLM serves).

Images travel as base64 PNG data URLs. Requests run concurrently (``max_concurrency``), each with a timeout and
retries with exponential backoff on connection errors, timeouts, 429 and 5xx replies. A request that still fails
is ``None`` (a counted judge failure). The API key comes from an environment variable and never appears in
logs, reprs or configs.
"""

from __future__ import annotations

import base64
import io
import logging
import os
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import requests

from gotr1.judges.mllm import ChatRequest

__all__ = ["HTTPJudgeConfig", "OpenAIChatBackend"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HTTPJudgeConfig:
    """Where and how to call the judge server (no secrets here: the key is read from ``api_key_env``)."""

    base_url: str
    model: str = "qwen2.5-vl-7b"
    api_key_env: str = "GOTR1_JUDGE_API_KEY"
    timeout_s: float = 60.0
    max_retries: int = 3
    backoff_s: float = 1.0
    max_concurrency: int = 16
    max_tokens: int = 512
    extra_headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError(f"HTTPJudgeConfig.base_url must be an http(s) URL, got {self.base_url!r}")
        if self.timeout_s <= 0 or self.max_retries < 0 or self.max_concurrency < 1:
            raise ValueError(
                "HTTPJudgeConfig: timeout_s > 0, max_retries >= 0 and max_concurrency >= 1 are required"
            )


def _data_url(image: object) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")  # type: ignore[attr-defined]
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


class OpenAIChatBackend:
    """Batched, concurrent chat completions with retries; counts what failed."""

    def __init__(self, config: HTTPJudgeConfig) -> None:
        self.config = config
        self.failures = 0
        self.calls = 0
        self._session = requests.Session()

    def __repr__(self) -> str:  # never shows the key
        return f"OpenAIChatBackend(base_url={self.config.base_url!r}, model={self.config.model!r})"

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", **self.config.extra_headers}
        key = os.environ.get(self.config.api_key_env)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def _payload(self, request: ChatRequest) -> dict[str, object]:
        content: list[dict[str, object]] = []
        if request.image is not None:
            content.append({"type": "image_url", "image_url": {"url": _data_url(request.image)}})
        content.append({"type": "text", "text": request.text})
        messages: list[dict[str, object]] = []
        if request.system:
            messages.append({"role": "system", "content": request.system})
        messages.append({"role": "user", "content": content})
        return {
            "model": self.config.model,
            "messages": messages,
            "temperature": 0.0,
            "max_tokens": self.config.max_tokens,
        }

    def _call(self, request: ChatRequest) -> str | None:
        url = self.config.base_url.rstrip("/") + "/v1/chat/completions"
        payload = self._payload(request)
        for attempt in range(self.config.max_retries + 1):
            try:
                response = self._session.post(
                    url, json=payload, headers=self._headers(), timeout=self.config.timeout_s
                )
                if response.status_code == 429 or response.status_code >= 500:
                    raise requests.HTTPError(f"status {response.status_code}")
                response.raise_for_status()
                content = response.json()["choices"][0]["message"]["content"]
                if not isinstance(content, str):
                    raise ValueError("reply content is not text")
                return content
            except requests.HTTPError as err:
                status = getattr(err.response, "status_code", None)
                if status is not None and 400 <= status < 500 and status != 429:
                    log.warning("judge request rejected (%s); not retried", status)
                    return None
                reason = str(err)
            except (requests.RequestException, ValueError, KeyError, IndexError) as err:
                reason = type(err).__name__
            if attempt < self.config.max_retries:
                time.sleep(self.config.backoff_s * 2**attempt)
        log.warning("judge request failed after %d attempts (%s)", self.config.max_retries + 1, reason)
        return None

    def complete(self, requests_: Sequence[ChatRequest]) -> list[str | None]:
        with ThreadPoolExecutor(max_workers=self.config.max_concurrency) as pool:
            replies = list(pool.map(self._call, requests_))
        self.calls += len(replies)
        self.failures += sum(r is None for r in replies)
        return replies
