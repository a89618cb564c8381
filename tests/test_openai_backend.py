"""The OpenAI-compatible HTTP backend against a small server on the loopback interface."""

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from slm_posttrain.cache import RequestCache
from slm_posttrain.lm import OpenAIChatLM, cached_generate, cached_generations, load_lm


class _Handler(BaseHTTPRequestHandler):
    seen: list = []

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.seen.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
        if body["model"] == "broken":
            self.send_response(500)
            self.end_headers()
            self.wfile.write(b"boom")
            return
        text = "echo: " + body["messages"][-1]["content"]
        # As a server answers: how the reply ended and its token count. A prompt starting "cut" gets a reply
        # cut at max_tokens inside a character, which this server (as some do) decoded as U+FFFD.
        choice = {"message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
        if text.startswith("echo: cut"):
            choice = {"message": {"role": "assistant", "content": text + " 长\ufffd"}, "finish_reason": "length"}
        if body["model"] != "no-finish-reason":
            choice["index"] = 0
        else:
            choice.pop("finish_reason")
        payload = json.dumps({"choices": [choice], "usage": {"completion_tokens": body["max_tokens"] - 1}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = HTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    _Handler.seen = []
    yield f"http://127.0.0.1:{httpd.server_port}/v1"
    httpd.shutdown()


def test_generate_with_key_from_environment(server, monkeypatch, tmp_path):
    monkeypatch.setenv("TEST_API_KEY", "sk-secret")
    lm = load_lm({"backend": "openai", "options": {"base_url": server, "model": "m", "api_key_env": "TEST_API_KEY"}})
    convs = [[{"role": "user", "content": f"q{i}"}] for i in range(3)]
    out = cached_generate(lm, convs, {"max_new_tokens": 8, "temperature": 0.0}, RequestCache(tmp_path / "c.sqlite"))
    assert out == ["echo: q0", "echo: q1", "echo: q2"]
    assert {s["path"] for s in _Handler.seen} == {"/v1/chat/completions"}
    assert all(s["auth"] == "Bearer sk-secret" and s["body"]["max_tokens"] == 8 for s in _Handler.seen)
    assert "sk-secret" not in repr(lm) and "sk-secret" not in (tmp_path / "c.sqlite").read_text()
    cached_generate(lm, convs, {"max_new_tokens": 8, "temperature": 0.0}, RequestCache(tmp_path / "c.sqlite"))
    assert len(_Handler.seen) == 3  # all from the cache the second time


def test_missing_key_and_http_errors_are_clear(server, monkeypatch):
    monkeypatch.delenv("NOPE_KEY", raising=False)
    with pytest.raises(RuntimeError, match="NOPE_KEY"):
        OpenAIChatLM(base_url=server, model="m", api_key_env="NOPE_KEY")
    lm = OpenAIChatLM(base_url=server, model="broken")
    with pytest.raises(RuntimeError, match="HTTP 500"):
        lm.generate([[{"role": "user", "content": "x"}]], {})
    with pytest.raises(RuntimeError, match="finish_reason None is neither 'stop' nor 'length'"):
        OpenAIChatLM(base_url=server, model="no-finish-reason").generate([[{"role": "user", "content": "x"}]], {})


def test_finish_reason_and_token_count_from_the_response(server, tmp_path):
    """finish_reason from the choice, the token count from usage.completion_tokens; a U+FFFD the server
    decoded a cut character into is dropped and counted, not passed on."""
    lm = OpenAIChatLM(base_url=server, model="m")
    convs = [[{"role": "user", "content": "whole"}], [{"role": "user", "content": "cut short"}]]
    made = cached_generations(lm, convs, {"max_new_tokens": 8}, RequestCache(tmp_path / "c.sqlite"))
    assert made[0] == {"text": "echo: whole", "finish_reason": "stop", "tokens": 7, "cut_bytes": 0,
                       "invalid_utf8": False, "invalid_bytes": 0}
    assert (made[1]["text"], made[1]["finish_reason"], made[1]["cut_bytes"]) == ("echo: cut short 长", "length", 1)
    assert lm.usage.as_dict()["generated_tokens"] == 14


def test_a_role_needing_log_probabilities_is_refused_at_validation():
    """The HTTP backend generates only: as the large model (perplexity) or a choice-mode labeler it is
    refused before any job runs, with the role named; as the small model it is fine."""
    import subprocess

    import pytest
    import yaml
    from conftest import REPO, SNAKEMAKE

    from slm_posttrain.lm import check_role_backends

    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    config["generation"] = {role: {**gen, "repetition_penalty": 1.0} for role, gen in config["generation"].items()}
    http = {"backend": "openai", "options": {"base_url": "http://localhost:1/v1", "model": "m"}}
    check_role_backends({**config, "models": {**config["models"], "small": http}})
    with pytest.raises(ValueError, match=r"models\.large: backend 'openai'.*perplexity scoring"):
        check_role_backends({**config, "models": {**config["models"], "large": http}})
    with pytest.raises(ValueError, match=r"models\.labeler: .*choice-mode labeling"):
        check_role_backends({**config, "models": {**config["models"], "labeler": http}})
    check_role_backends({**config, "labeling": {**config["labeling"], "mode": "generate"},
                         "models": {**config["models"], "labeler": http}})
    # A repetition penalty only where it can be kept off the prompt (transformers).
    penalized = {**config["generation"], "small": {**config["generation"]["small"], "repetition_penalty": 1.2}}
    check_role_backends({**config, "generation": penalized})
    for backend in (http, {**config["models"]["small"], "backend": "vllm"}):
        with pytest.raises(ValueError, match=r"generation\.small\.repetition_penalty: backend '(openai|vllm)'"):
            check_role_backends({**config, "generation": penalized, "models": {**config["models"], "small": backend}})

    large = '{"backend": "openai", "options": {"base_url": "http://x/v1", "model": "m"}}'
    proc = subprocess.run([*SNAKEMAKE, "-n", "results/tables/table4_4.csv", "--config",
                           f'models={{"large": {large}}}'], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode != 0 and "models.large: backend 'openai'" in proc.stdout + proc.stderr
