"""Async client for any OpenAI-compatible chat endpoint (vLLM, NIM, SGLang, Ollama, llama.cpp server).

Synthetic-data and judging stages send many thousands of chat requests to a self-hosted server, so
the client is built for long, resumable batches rather than single calls:

* bounded concurrency (`max_concurrency`): the server's batch scheduler, not our socket count,
  should set the pace;
* retries with exponential backoff and jitter on 429, 5xx, timeouts, dropped connections and
  garbled bodies (`Retry-After` honoured up to `backoff_max_s`); other 4xx fail at once, since
  repeating a bad request only burns time;
* a sqlite response cache keyed by what determines the output (model, messages, generation
  parameters; not the URL or the key), so that a re-run or a run resumed after a crash never pays
  for the same completion twice. Outputs sampled at temperature > 0 are cached too, by design:
  resumability beats resampling. To draw a different sample, change `seed` (part of the key).

Only the standard library is used: urllib calls run in a thread pool of `max_concurrency` workers,
which is plenty for LLM latencies. The API key is read from the environment variable named by
`api_key_env` at request time; it is never stored on an object, logged, or put in an exception.
"""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import http.client
import json
import logging
import os
import random
import sqlite3
import threading
import time
import urllib.error
import urllib.request
import weakref
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

API_KEY_ENV = "CURATION_LLM_API_KEY"
CACHE_FILE = "llm_cache.sqlite3"
EXCERPT_CHARS = 300


@dataclass
class LLMConfig:
    """Where the endpoint is and how to talk to it. Holds the *name* of the key's environment
    variable, never the key, so configs can be logged, shown in Dagster and committed."""

    base_url: str = ""  # e.g. http://127.0.0.1:8000/v1
    model: str = ""
    api_key_env: str = API_KEY_ENV
    max_concurrency: int = 8
    timeout_s: float = 120.0
    max_retries: int = 5  # retries after the first attempt, for 429 / 5xx / timeouts / connection errors
    malformed_retries: int = 2  # of those, at most this many for unparsable 200s (a broken server stays broken)
    backoff_base_s: float = 0.5
    backoff_max_s: float = 20.0  # also caps Retry-After
    temperature: float | None = 0.0
    top_p: float | None = 1.0
    max_tokens: int | None = 1024
    seed: int | None = None
    cache_dir: str | None = None  # None: no response cache

    def generation_params(self) -> dict[str, Any]:
        return {"temperature": self.temperature, "top_p": self.top_p, "max_tokens": self.max_tokens, "seed": self.seed}


@dataclass(frozen=True)
class Completion:
    text: str
    finish_reason: str | None
    prompt_tokens: int
    completion_tokens: int
    cached: bool
    model: str
    # choices[0].logprobs.content as (token, logprob) pairs, where the server sent them: how a
    # NIM reward model returns its attribute scores.
    logprobs: tuple[tuple[str, float], ...] | None = None


class LLMError(RuntimeError):
    """Any failure of one request. `retryable` says whether another attempt could succeed."""

    retryable = False


class LLMHTTPError(LLMError):
    def __init__(self, status: int, excerpt: str, retry_after: float | None = None):
        super().__init__(f"HTTP {status}: {excerpt}")
        self.status, self.excerpt, self.retry_after = status, excerpt, retry_after
        self.retryable = status == 429 or status >= 500


class LLMConnectionError(LLMError):
    retryable = True


class LLMResponseError(LLMError):
    """A 200 whose body is not a chat completion (not JSON, no choices/message/content)."""

    retryable = True


@dataclass
class TokenUsage:
    """Running totals for one client. `requests` counts requests that went to the server (cache
    hits do not), `retries` the extra attempts, `failures` requests that ended in an error; tokens
    are those the server reported, so cached completions add none."""

    requests: int = 0
    retries: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cache_hits: int = 0
    failures: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False, compare=False)

    def add(self, **counts: int) -> None:
        with self._lock:
            for name, value in counts.items():
                setattr(self, name, getattr(self, name) + value)

    def as_dict(self) -> dict[str, int]:
        with self._lock:
            return {f.name: getattr(self, f.name) for f in fields(self) if not f.name.startswith("_")}


def request_key(model: str, messages: Sequence[Mapping[str, Any]], params: Mapping[str, Any]) -> str:
    """sha256 of the canonical JSON of what determines the output."""
    canonical = json.dumps({"model": model, "messages": messages, "params": params},
                           sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class ResponseCache:
    """One sqlite row per request key in `{directory}/llm_cache.sqlite3`. INSERT OR IGNORE and a
    commit per write: a killed process loses at most the completion in flight, and several
    processes may share the directory (WAL, busy timeout)."""

    def __init__(self, directory: str | os.PathLike):
        Path(directory).mkdir(parents=True, exist_ok=True)
        self.path = Path(directory) / CACHE_FILE
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, timeout=60, check_same_thread=False)
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, request TEXT NOT NULL,"
                             " response TEXT NOT NULL, created REAL NOT NULL)")
            self._db.commit()

    def get(self, key: str) -> Completion | None:
        with self._lock:
            row = self._db.execute("SELECT response FROM responses WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        stored = json.loads(row[0])
        if stored.get("logprobs") is not None:
            stored["logprobs"] = tuple((token, value) for token, value in stored["logprobs"])
        return Completion(**stored, cached=True)

    def put(self, key: str, request: Mapping[str, Any], completion: Completion) -> None:
        response = {f.name: getattr(completion, f.name) for f in fields(completion) if f.name != "cached"}
        with self._lock:
            self._db.execute("INSERT OR IGNORE INTO responses VALUES (?, ?, ?, ?)",
                             (key, json.dumps(request, ensure_ascii=False), json.dumps(response, ensure_ascii=False),
                              time.time()))
            self._db.commit()

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _headers(config: LLMConfig) -> dict[str, str]:
    headers = {"Content-Type": "application/json", "Accept": "application/json", "User-Agent": "korean-curation"}
    if key := os.environ.get(config.api_key_env):
        headers["Authorization"] = f"Bearer {key}"
    return headers


def _excerpt(body: bytes | str, config: LLMConfig) -> str:
    """A short, single-line, key-free excerpt of a body for error messages (a hostile or
    misconfigured server may echo request headers back)."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    if key := os.environ.get(config.api_key_env):
        text = text.replace(key, "***")
    text = " ".join(text.split())
    return text if len(text) <= EXCERPT_CHARS else text[:EXCERPT_CHARS] + "…"


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header: delay-seconds or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


def _parse(body: bytes, config: LLMConfig, model: str) -> Completion:
    try:
        data = json.loads(body)
    except ValueError:
        raise LLMResponseError(f"response is not JSON: {_excerpt(body, config)!r}") from None
    choice = None
    try:
        choice = data["choices"][0]
        text = choice["message"]["content"]
    except (KeyError, IndexError, TypeError):
        text = None
    logprobs = _logprobs(choice) if isinstance(choice, dict) else None
    if not isinstance(text, str):
        if logprobs is None:
            raise LLMResponseError(f"response has no choices[0].message.content: {_excerpt(body, config)!r}")
        text = ""  # a reward model answers with logprobs only
    usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
    tokens = [n if isinstance(n := usage.get(name), int) else 0 for name in ("prompt_tokens", "completion_tokens")]
    finish = choice.get("finish_reason") if isinstance(choice, dict) else None
    return Completion(text=text, finish_reason=finish, prompt_tokens=tokens[0],
                      completion_tokens=tokens[1], cached=False, model=str(data.get("model") or model),
                      logprobs=logprobs)


def _logprobs(choice: dict) -> tuple[tuple[str, float], ...] | None:
    """choices[0].logprobs.content as (token, logprob) pairs; None when absent or malformed."""
    content = (choice.get("logprobs") or {}).get("content") if isinstance(choice.get("logprobs"), dict) else None
    if not isinstance(content, list):
        return None
    pairs = []
    for item in content:
        if not (isinstance(item, dict) and isinstance(item.get("token"), str)
                and isinstance(item.get("logprob"), int | float)):
            return None
        pairs.append((item["token"], float(item["logprob"])))
    return tuple(pairs)


def endpoint_status(config: LLMConfig, timeout_s: float = 5.0) -> str | None:
    """None when GET {base_url}/models answers 2xx, else a sentence saying why not and how to fix
    it, for assets to report instead of failing with a stack trace."""
    if not config.base_url:
        return ("no LLM endpoint configured: set base_url to an OpenAI-compatible server, e.g. "
                "http://127.0.0.1:8000/v1 for `vllm serve MODEL` or http://127.0.0.1:11434/v1 for Ollama"
                f" (and the key, if the server needs one, in ${config.api_key_env})")
    url = config.base_url.rstrip("/") + "/models"
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=_headers(config)), timeout=timeout_s):
            return None
    except urllib.error.HTTPError as err:
        hint = f" (is ${config.api_key_env} set to the right key?)" if err.code in (401, 403) else ""
        return f"LLM endpoint {url} answered HTTP {err.code}{hint}"
    except (OSError, http.client.HTTPException) as err:
        reason = getattr(err, "reason", err)
        return f"LLM endpoint {url} is not reachable: {reason}"


class LLMClient:
    """Chat completions against `config.base_url` with retries, bounded concurrency, usage
    accounting and an optional response cache (`cache`, else one in `config.cache_dir`)."""

    def __init__(self, config: LLMConfig, cache: ResponseCache | None = None):
        if not config.base_url or not config.model:
            raise ValueError(endpoint_status(config) if not config.base_url else "LLMConfig.model is empty")
        self.config = config
        self._owns_cache = cache is None and bool(config.cache_dir)  # close() closes only a cache it opened
        self.cache = ResponseCache(config.cache_dir) if self._owns_cache else cache
        self.usage = TokenUsage()
        self._url = config.base_url.rstrip("/") + "/chat/completions"
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        # asyncio.Semaphore binds to one event loop; run_all starts a fresh loop per call.
        self._semaphores: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def __repr__(self) -> str:
        return (f"LLMClient(base_url={self.config.base_url!r}, model={self.config.model!r}, "
                f"usage={self.usage.as_dict()})")

    def __enter__(self) -> LLMClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with self._pool_lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        if self._owns_cache and self.cache is not None:
            self.cache.close()

    def _semaphore(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if (sem := self._semaphores.get(loop)) is None:
            sem = self._semaphores[loop] = asyncio.Semaphore(self.config.max_concurrency)
        return sem

    def _executor(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.config.max_concurrency, thread_name_prefix="llm")
            return self._pool

    def _post(self, body: bytes) -> bytes:
        """One blocking attempt (runs in the pool); maps every failure to an LLMError."""
        request = urllib.request.Request(self._url, data=body, headers=_headers(self.config), method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.config.timeout_s) as response:
                return response.read()
        except urllib.error.HTTPError as err:
            try:
                text = err.read()
            except (OSError, http.client.HTTPException):
                text = b""
            raise LLMHTTPError(err.code, _excerpt(text, self.config),
                               _retry_after(err.headers.get("Retry-After"))) from None
        except TimeoutError:
            raise LLMConnectionError(f"timed out after {self.config.timeout_s:g}s") from None
        except (OSError, http.client.HTTPException) as err:
            raise LLMConnectionError(f"connection failed: {getattr(err, 'reason', err)}") from None

    def _delay(self, retry: int, retry_after: float | None) -> float:
        """Exponential backoff with jitter in [half, full], at least Retry-After, capped."""
        backoff = (min(self.config.backoff_max_s, self.config.backoff_base_s * 2 ** (retry - 1))
                   * random.uniform(0.5, 1.0))
        return min(self.config.backoff_max_s, max(backoff, retry_after or 0.0))

    async def complete(self, messages: list[dict], **params: Any) -> Completion:
        """One chat completion. `params` override the config's generation parameters (None drops
        one) and pass through to the server (stop, response_format, ...); `model` overrides the
        model. All of them, with the messages, make the cache key."""
        model = params.pop("model", None) or self.config.model
        params = {k: v for k, v in {**self.config.generation_params(), **params}.items() if v is not None}
        key = request_key(model, messages, params)
        if self.cache is not None and (hit := self.cache.get(key)) is not None:
            self.usage.add(cache_hits=1)
            return hit
        payload = {**params, "model": model, "messages": messages}
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        loop = asyncio.get_running_loop()
        retries = malformed = 0
        async with self._semaphore():
            self.usage.add(requests=1)
            while True:
                try:
                    completion = _parse(await loop.run_in_executor(self._executor(), self._post, body),
                                        self.config, model)
                    break
                except LLMError as err:
                    malformed += isinstance(err, LLMResponseError)
                    if (not err.retryable or retries >= self.config.max_retries
                            or malformed > self.config.malformed_retries):
                        self.usage.add(failures=1)
                        if not err.retryable:
                            raise
                        raise LLMError(f"{self._url}: gave up after {retries + 1} attempts; "
                                       f"last error: {err}") from err
                    retries += 1
                    self.usage.add(retries=1)
                    delay = self._delay(retries, getattr(err, "retry_after", None))
                    log.info("LLM request failed (%s); retry %d/%d in %.2fs", err, retries, self.config.max_retries,
                             delay)
                    await asyncio.sleep(delay)
        self.usage.add(prompt_tokens=completion.prompt_tokens, completion_tokens=completion.completion_tokens)
        if self.cache is not None:
            self.cache.put(key, payload, completion)
        return completion

    async def complete_many(self, requests: Iterable[list[dict] | Mapping[str, Any]]) -> list[Completion | LLMError]:
        """Completions in the order of `requests`, each a message list or a mapping with
        "messages" and per-request params. A failed request yields its LLMError in its slot, so
        one bad prompt does not sink a batch. Workers pull from the list, so a batch of a million
        requests holds `max_concurrency` coroutines, not a million."""
        requests = list(requests)
        results: list[Completion | LLMError | None] = [None] * len(requests)
        pending = iter(enumerate(requests))

        async def worker() -> None:
            for i, request in pending:
                if isinstance(request, Mapping):
                    request = dict(request)
                    call = self.complete(request.pop("messages"), **request)
                else:
                    call = self.complete(request)
                try:
                    results[i] = await call
                except LLMError as err:
                    results[i] = err

        await asyncio.gather(*(worker() for _ in range(min(self.config.max_concurrency, len(requests)))))
        return results  # type: ignore[return-value]

    def run_all(self, requests: Iterable[list[dict] | Mapping[str, Any]]) -> list[Completion | LLMError]:
        """complete_many for synchronous callers (plain scripts, Dagster ops). Inside a running
        event loop (a notebook, an async op) it runs on a helper thread with its own loop."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self.complete_many(requests))
        with ThreadPoolExecutor(1) as helper:
            return helper.submit(asyncio.run, self.complete_many(requests)).result()
