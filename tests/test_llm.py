"""curation.llm against a real local HTTP server (tests/openai_server.py): retries, concurrency,
cache, key handling and endpoint probing, all through sockets."""

import asyncio
import socket
import time

import pytest

from curation.llm import (
    Completion,
    LLMClient,
    LLMConfig,
    LLMError,
    LLMHTTPError,
    ResponseCache,
    endpoint_status,
    request_key,
)

from openai_server import FakeOpenAI

KEY = "sk-test-DO-NOT-LEAK-4f1c9e"
MESSAGES = [{"role": "system", "content": "한국어로 답하세요."},
            {"role": "user", "content": "서울의 인구는 몇 명인가요?"}]


@pytest.fixture
def server():
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture(autouse=True)
def no_key(monkeypatch):
    monkeypatch.delenv("CURATION_LLM_API_KEY", raising=False)


def config(server: FakeOpenAI, **overrides) -> LLMConfig:
    """Tiny backoff and timeout so that fault tests stay fast."""
    values = dict(base_url=server.base_url, model="test-model", timeout_s=0.3, max_retries=3,
                  backoff_base_s=0.001, backoff_max_s=0.01)
    return LLMConfig(**{**values, **overrides})


def test_complete_success_and_usage(server):
    with LLMClient(config(server)) as client:
        result = asyncio.run(client.complete(MESSAGES, max_tokens=50, stop=["\n"]))
    assert result == Completion(text="echo: 서울의 인구는 몇 명인가요?", finish_reason="stop", prompt_tokens=6,
                                completion_tokens=5, cached=False, model="test-model")
    (request,) = server.chat_requests
    body = request["body"]
    assert body["model"] == "test-model" and body["messages"] == MESSAGES
    assert (body["temperature"], body["top_p"], body["max_tokens"], body["stop"]) == (0.0, 1.0, 50, ["\n"])
    assert "seed" not in body  # None parameters are not sent
    assert "Authorization" not in request["headers"]  # keyless servers (Ollama, vLLM) work
    assert client.usage.as_dict() == dict(requests=1, retries=0, prompt_tokens=6, completion_tokens=5, cache_hits=0,
                                          failures=0)


def test_finish_reason_length(server):
    with LLMClient(config(server)) as client:
        result = asyncio.run(client.complete([{"role": "user", "content": "a b c d e f"}], max_tokens=3))
    assert (result.text, result.finish_reason, result.completion_tokens) == ("echo: a b", "length", 3)


def test_complete_many_keeps_order_and_bounds_concurrency():
    with FakeOpenAI(delay_s=0.1) as server, LLMClient(config(server, max_concurrency=3)) as client:
        requests = [[{"role": "user", "content": f"질문 {i}"}] for i in range(20)]
        results = client.run_all(requests)
    assert [r.text for r in results] == [f"echo: 질문 {i}" for i in range(20)]
    assert len(server.chat_requests) == 20
    assert server.max_in_flight == 3  # bounded, and actually concurrent
    assert client.usage.requests == 20 and client.usage.prompt_tokens == 40


def test_direct_gather_is_bounded_too():
    with FakeOpenAI(delay_s=0.1) as server, LLMClient(config(server, max_concurrency=2)) as client:
        async def main():
            return await asyncio.gather(*(client.complete([{"role": "user", "content": str(i)}]) for i in range(6)))
        assert [r.text for r in asyncio.run(main())] == [f"echo: {i}" for i in range(6)]
        assert server.max_in_flight == 2
        client.run_all([[{"role": "user", "content": "again"}]])  # a fresh event loop gets a fresh semaphore


def test_retry_after_is_honoured_and_capped(server):
    server.fail_next("429", times=2, retry_after="2")
    with LLMClient(config(server, backoff_max_s=0.25)) as client:
        start = time.monotonic()
        result = asyncio.run(client.complete(MESSAGES))
        elapsed = time.monotonic() - start
    assert result.text.startswith("echo:")
    assert 0.5 <= elapsed < 1.5  # 2 x Retry-After capped at 0.25 s; without the header ~0.002 s, uncapped 4 s
    assert len(server.chat_requests) == 3 and client.usage.retries == 2 and client.usage.failures == 0


@pytest.mark.parametrize("kind", ["500", "503", "timeout", "malformed", "missing_choices"])
def test_transient_faults_are_retried(server, kind):
    server.fail_next(kind, times=2)
    with LLMClient(config(server)) as client:
        result = asyncio.run(client.complete(MESSAGES))
    assert result.text == "echo: 서울의 인구는 몇 명인가요?" and not result.cached
    assert len(server.chat_requests) == 3
    assert client.usage.as_dict() == dict(requests=1, retries=2, prompt_tokens=6, completion_tokens=5, cache_hits=0,
                                          failures=0)


def test_gives_up_after_max_retries(server):
    server.fail_next("503", times=10)
    with LLMClient(config(server, max_retries=3)) as client:
        with pytest.raises(LLMError, match=r"gave up after 4 attempts; last error: HTTP 503: .*injected 503"):
            asyncio.run(client.complete(MESSAGES))
    assert len(server.chat_requests) == 4
    assert (client.usage.retries, client.usage.failures, client.usage.completion_tokens) == (3, 1, 0)


def test_malformed_retries_are_bounded_separately(server):
    server.fail_next("malformed", times=10)
    with LLMClient(config(server, max_retries=5, malformed_retries=2)) as client:
        with pytest.raises(LLMError, match="gave up after 3 attempts; last error: response is not JSON"):
            asyncio.run(client.complete(MESSAGES))
    assert len(server.chat_requests) == 3


def test_400_fails_fast(server):
    server.fail_next("400")
    with LLMClient(config(server)) as client:
        with pytest.raises(LLMHTTPError, match="HTTP 400: .*bad request") as caught:
            asyncio.run(client.complete(MESSAGES))
    assert caught.value.status == 400 and not caught.value.retryable
    assert len(server.chat_requests) == 1 and client.usage.retries == 0 and client.usage.failures == 1


def test_batch_failure_stays_in_its_slot(server):
    server.fail_next("400")
    with LLMClient(config(server, max_concurrency=1)) as client:
        results = client.run_all([[{"role": "user", "content": "bad"}],
                                  {"messages": [{"role": "user", "content": "ok"}], "seed": 7}])
    assert isinstance(results[0], LLMHTTPError) and results[1].text == "echo: ok"
    assert server.chat_requests[1]["body"]["seed"] == 7


def test_cache_survives_restart_and_ignores_url(tmp_path, server):
    with LLMClient(config(server, cache_dir=str(tmp_path))) as client:
        first = asyncio.run(client.complete(MESSAGES, temperature=0.8))
        second = asyncio.run(client.complete(MESSAGES, temperature=0.8))
    assert len(server.chat_requests) == 1
    assert not first.cached and second.cached and second.text == first.text
    assert (client.usage.requests, client.usage.cache_hits, client.usage.completion_tokens) == (1, 1, 5)
    with FakeOpenAI() as other:  # a restart, even against another replica of the endpoint
        with LLMClient(config(other, cache_dir=str(tmp_path))) as restarted:
            again = asyncio.run(restarted.complete(MESSAGES, temperature=0.8))
        assert again.cached and again.text == first.text and other.chat_requests == []
    assert restarted.usage.as_dict()["cache_hits"] == 1 and restarted.usage.requests == 0


def test_cache_key_covers_model_messages_and_params(tmp_path, server):
    with LLMClient(config(server, cache_dir=str(tmp_path))) as client:
        variants = [dict(), dict(temperature=0.7), dict(seed=1), dict(seed=2), dict(max_tokens=10),
                    dict(model="other")]
        for params in variants:
            asyncio.run(client.complete(MESSAGES, **params))
        asyncio.run(client.complete(MESSAGES[1:]))
        assert len(server.chat_requests) == len(variants) + 1 and client.usage.cache_hits == 0
        assert len(client.cache) == len(variants) + 1
    with LLMClient(config(server, cache_dir=str(tmp_path), seed=3)) as seeded:  # the config's defaults count too
        assert not asyncio.run(seeded.complete(MESSAGES)).cached
    assert request_key("m", MESSAGES, {"a": 1, "b": 2}) == request_key("m", MESSAGES, {"b": 2, "a": 1})


def test_failures_are_not_cached(tmp_path, server):
    server.fail_next("400")
    cache = ResponseCache(tmp_path)
    with LLMClient(config(server), cache=cache) as client:
        with pytest.raises(LLMHTTPError):
            asyncio.run(client.complete(MESSAGES))
        assert not asyncio.run(client.complete(MESSAGES)).cached
    assert len(cache) == 1 and len(server.chat_requests) == 2


def test_api_key_sent_as_bearer_and_never_leaked(server, monkeypatch):
    monkeypatch.setenv("MY_LLM_KEY", KEY)
    cfg = config(server, api_key_env="MY_LLM_KEY", max_retries=1)
    with LLMClient(cfg) as client:
        asyncio.run(client.complete(MESSAGES))
        assert server.chat_requests[0]["headers"]["Authorization"] == f"Bearer {KEY}"
        server.fail_next("400")  # the server echoes the Authorization header back in its error body
        with pytest.raises(LLMHTTPError) as bad_request:
            asyncio.run(client.complete(MESSAGES[1:]))
        server.fail_next("500", times=2)
        with pytest.raises(LLMError) as gave_up:
            asyncio.run(client.complete(MESSAGES[:1]))
    assert "Bearer ***" in str(bad_request.value)
    for text in (str(bad_request.value), repr(bad_request.value), str(gave_up.value), repr(client), repr(cfg),
                 repr(client.usage), endpoint_status(config(server, base_url=server.base_url + "/nope"))):
        assert KEY not in text


def test_endpoint_status(server, monkeypatch):
    assert endpoint_status(config(server)) is None
    monkeypatch.setenv("CURATION_LLM_API_KEY", KEY)
    assert endpoint_status(config(server)) is None
    assert server.requests[-1]["headers"]["Authorization"] == f"Bearer {KEY}"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    down = endpoint_status(LLMConfig(base_url=f"http://127.0.0.1:{port}/v1", model="m"), timeout_s=1)
    assert down.startswith(f"LLM endpoint http://127.0.0.1:{port}/v1/models is not reachable") and "refused" in down
    assert "404" in endpoint_status(config(server, base_url=server.base_url + "/nope"))
    assert "no LLM endpoint configured" in endpoint_status(LLMConfig())
    with pytest.raises(ValueError, match="no LLM endpoint configured"):
        LLMClient(LLMConfig(model="m"))


def test_run_all_inside_a_running_loop(server):
    with LLMClient(config(server)) as client:
        async def notebook_cell():
            return client.run_all([MESSAGES])
        (result,) = asyncio.run(notebook_cell())
    assert result.text.startswith("echo:")
