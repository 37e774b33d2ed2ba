"""The MLLM judge through the HTTP backend against a real HTTP server on 127.0.0.1 (canned replies, faults)."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from gotr1.judges.base import JudgeRequest
from gotr1.judges.http import HTTPJudgeConfig, OpenAIChatBackend
from gotr1.judges.mllm import MLLMJudge, parse_grounding, parse_score, smart_resize
from gotr1.reasoning import GoTChain, parse
from gotr1.synthetic.world import WorldConfig, sample_dataset

WORLD = WorldConfig()
CODEC = WORLD.codec()


class Server:
    """Answers chat completions; ``mode`` picks canned replies or a fault; records what it saw."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.calls = 0
        self.seen_auth: list[str] = []
        self.flaky_left = 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                owner.calls += 1
                owner.seen_auth.append(self.headers.get("Authorization", ""))
                text = body["messages"][-1]["content"][-1]["text"]
                system = body["messages"][0]["content"] if body["messages"][0]["role"] == "system" else ""
                if owner.flaky_left > 0:
                    owner.flaky_left -= 1
                    self.send_response(500)
                    self.end_headers()
                    return
                if owner.mode == "close":
                    self.connection.close()
                    return
                if owner.mode == "slow":
                    threading.Event().wait(0.5)
                if owner.mode == "garbage":
                    reply = "I think it is fine."
                elif "Locate the" in text:
                    reply = '```json\n[{"bbox_2d": [0, 0, 224, 224], "label": "x"}]\n```'
                elif "caption evaluator" in system:
                    reply = '{"score": 8}'
                elif "planned layout" in system:
                    reply = (
                        '{"reasoning": "ok", "score": "ten"}'
                        if owner.mode == "bad_score"
                        else '{"reasoning": "ok", "score": 10}'
                    )
                else:
                    reply = '{"description": "d", "caption": "c", "reasoning": "r", "score": 5}'
                payload = json.dumps(
                    {"choices": [{"message": {"role": "assistant", "content": reply}}]}
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture()
def server() -> Iterator[Server]:
    s = Server()
    yield s
    s.httpd.shutdown()


def _requests(n: int = 2) -> list[JudgeRequest]:
    out = []
    for s in sample_dataset(WORLD, n, seed=3):
        chain = parse(s.chain_text)
        assert isinstance(chain, GoTChain)
        out.append(JudgeRequest(s.prompt, chain, s.grid, s.spec))
    return out


def _judge(server: Server, **overrides: object) -> tuple[MLLMJudge, OpenAIChatBackend]:
    settings: dict[str, object] = {"timeout_s": 2.0, "max_retries": 1, "backoff_s": 0.01, **overrides}
    config = HTTPJudgeConfig(server.url, **settings)  # type: ignore[arg-type]
    backend = OpenAIChatBackend(config)
    return MLLMJudge(backend, to_pil=CODEC.to_pil), backend


def test_scores_are_parsed_and_scaled(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOTR1_JUDGE_API_KEY", "sk-secret-123")
    judge, backend = _judge(server)
    verdicts = judge.judge(_requests())
    assert [(v.r_sem, v.r_spa, v.r_pi, v.failures) for v in verdicts] == [(0.8, 1.0, 0.5, ())] * 2
    assert all(v.r_ri is not None and 0.0 <= v.r_ri <= 1.0 for v in verdicts)
    assert set(server.seen_auth) == {"Bearer sk-secret-123"}
    assert "sk-secret" not in repr(backend) and "sk-secret" not in repr(backend.config)


def test_unparsed_chain_gets_zero_plan_rewards_without_asking(server: Server) -> None:
    judge, _ = _judge(server)
    request = _requests(1)[0]
    verdict = judge.judge([JudgeRequest(request.prompt, None, request.image)])[0]
    assert (verdict.r_sem, verdict.r_spa, verdict.r_ri, verdict.r_pi) == (0.0, 0.0, 0.0, 0.5)
    assert server.calls == 1


@pytest.mark.parametrize("mode", ["garbage", "close", "slow"])
def test_faults_are_counted_failures_never_scores(
    server: Server, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    server.mode = mode
    judge, backend = _judge(server, timeout_s=0.2) if mode == "slow" else _judge(server)
    with caplog.at_level(logging.WARNING):
        verdicts = judge.judge(_requests(1))
    v = verdicts[0]
    assert set(v.failures) == {"r_sem", "r_spa", "r_ri", "r_pi"}
    assert (v.r_sem, v.r_spa, v.r_ri, v.r_pi) == (None, None, None, None)
    if mode != "garbage":
        assert backend.failures == backend.calls > 0


def test_an_off_format_score_fails_only_its_component(server: Server) -> None:
    server.mode = "bad_score"
    judge, _ = _judge(server)
    v = judge.judge(_requests(1))[0]
    assert v.failures == ("r_spa",) and v.r_spa is None and v.r_sem == 0.8


def test_server_errors_are_retried(server: Server) -> None:
    server.flaky_left = 1
    judge, backend = _judge(server, max_concurrency=1)
    v = judge.judge(_requests(1))[0]
    assert v.failures == () and backend.failures == 0


def test_reply_parsers() -> None:
    assert parse_score('{"score": 7}', "r_sem") == 0.7
    assert parse_score('{"score": 0}', "r_spa") is None  # R_spa's scale is 1-10
    assert parse_score("score: 7", "r_pi") is None
    assert parse_score(None, "r_pi") is None
    assert parse_grounding('{"bbox_2d": [1, 2, 3, 4]}') == [(1.0, 2.0, 3.0, 4.0)]
    assert parse_grounding("[]") == []
    assert parse_grounding('[{"bbox": [1, 2]}]') is None
    assert smart_resize(512, 512) == (504, 504)
    assert smart_resize(256, 256) == (252, 252)
