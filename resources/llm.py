"""The LLM endpoint as a Dagster resource: any OpenAI-compatible server (vLLM, NIM, SGLang,
Ollama, llama.cpp). The key is read from the environment variable named by `api_key_env` at
request time; it is never a config field, so it never shows in the UI, logs or run config."""

from __future__ import annotations

import dagster as dg
from pydantic import Field

from curation.llm import API_KEY_ENV, LLMClient, LLMConfig, endpoint_status

REWARD_HOW_TO_CONFIGURE = ("set CURATION_REWARD_BASE_URL and CURATION_REWARD_MODEL to a reward endpoint (NIM serves "
                           "nvidia/nemotron-4-340b-reward), or score with the instruct model as judge (backend: "
                           "judge); see README, 'Instruction data'")
HOW_TO_CONFIGURE = ("set CURATION_LLM_BASE_URL (e.g. http://127.0.0.1:8000/v1 for `vllm serve MODEL`) and "
                    "CURATION_LLM_MODEL, and the key in $CURATION_LLM_API_KEY if the server needs one; "
                    "see README, 'Synthetic data'")


class LLMResource(dg.ConfigurableResource):
    base_url: str = Field(default="", description="e.g. http://127.0.0.1:8000/v1; empty: no endpoint (the "
                                                  "deployment's: $CURATION_LLM_BASE_URL)")
    model: str = Field(default="", description="the served model's name ($CURATION_LLM_MODEL)")
    api_key_env: str = API_KEY_ENV
    max_concurrency: int = 8
    timeout_s: float = 120.0
    max_retries: int = 5
    backoff_base_s: float = 0.5
    temperature: float = 0.7
    max_tokens: int = 1024
    cache_dir: str = Field(default="", description="responses cached on disk by request; empty: no cache "
                                                   "($CURATION_LLM_CACHE)")
    configure_hint: str = Field(default=HOW_TO_CONFIGURE, description="what the skip message tells the user")

    def llm_config(self) -> LLMConfig:
        return LLMConfig(base_url=self.base_url, model=self.model, api_key_env=self.api_key_env,
                         max_concurrency=self.max_concurrency, timeout_s=self.timeout_s, max_retries=self.max_retries,
                         backoff_base_s=self.backoff_base_s, temperature=self.temperature, max_tokens=self.max_tokens,
                         cache_dir=self.cache_dir or None)

    def unavailable_reason(self) -> str | None:
        """None when the endpoint answers; else why not, and how to configure one."""
        if not self.base_url or not self.model:
            return f"no LLM endpoint configured: {self.configure_hint}"
        reason = endpoint_status(self.llm_config())
        return None if reason is None else f"{reason}; {self.configure_hint}"

    def client(self) -> LLMClient:
        return LLMClient(self.llm_config())
