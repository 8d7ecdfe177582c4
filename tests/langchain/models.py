"""Real LangChain components for the handler's tests (no network).

``ScriptedChatModel`` is a genuine ``BaseChatModel``: LangChain runs its own callback machinery
around it exactly as around ``ChatOpenAI``. It replies with scripted ``AIMessage`` objects (usage
metadata and tool calls included) or echoes the last user message, and streams like OpenAI does
with ``include_usage``: content chunks first, then a final chunk carrying the usage.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import threading
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

from langchain_core.callbacks import (
    AsyncCallbackManagerForRetrieverRun,
    CallbackManagerForRetrieverRun,
)
from langchain_core.documents import Document
from langchain_core.language_models import BaseChatModel, BaseLLM, LanguageModelInput
from langchain_core.language_models.base import LangSmithParams
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage
from langchain_core.outputs import (
    ChatGeneration,
    ChatGenerationChunk,
    ChatResult,
    Generation,
    LLMResult,
)
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import PrivateAttr

USAGE = {
    "input_tokens": 20,
    "output_tokens": 7,
    "total_tokens": 27,
    "input_token_details": {"cache_read": 5},
    "output_token_details": {"reasoning": 2},
}


class ProviderResponse:
    """The HTTP response a provider SDK's status error carries (``openai.APIStatusError.response``
    is an ``httpx.Response``). LangChain reads its status, JSON body and headers into the failed
    call's result, as an extra empty message."""

    def __init__(self, status_code: int, message: str) -> None:
        self.status_code = status_code
        self.headers = {"content-type": "application/json", "x-request-id": "req_123"}
        self._body = {"error": {"message": message, "type": "server_error"}}

    def json(self) -> dict[str, Any]:
        return self._body


class ProviderError(Exception):
    """What a provider SDK raises: carries an HTTP status and the HTTP response."""

    def __init__(self, message: str, status_code: int) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.response = ProviderResponse(status_code, message)


def reply(content: str = "", **kwargs: Any) -> AIMessage:
    """An assistant reply with the standard test usage."""
    kwargs.setdefault("usage_metadata", dict(USAGE))
    return AIMessage(content=content, **kwargs)


class ScriptedChatModel(BaseChatModel):
    """Replies from ``replies`` in order (cycling), or echoes the last user message."""

    replies: Sequence[AIMessage] = ()
    model: str = "scripted-1"
    fail_status: int | None = None
    delay: float = 0.0
    _cursor: Any = PrivateAttr(default=None)
    _lock: Any = PrivateAttr(default_factory=threading.Lock)

    @property
    def _llm_type(self) -> str:
        return "scripted-chat"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        # As real integrations do: these become the call's invocation parameters.
        return {"model": self.model, "temperature": 0.0}

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        params = super()._get_ls_params(stop=stop, **kwargs)
        params["ls_provider"] = "scripted"
        return params

    def _next(self, messages: list[BaseMessage]) -> AIMessage:
        if self.fail_status is not None:
            raise ProviderError("the provider is overloaded", self.fail_status)
        if not self.replies:
            last = next(m for m in reversed(messages) if isinstance(m, HumanMessage))
            return reply(f"echo: {last.content}")
        with self._lock:
            if self._cursor is None:
                self._cursor = itertools.cycle(self.replies)
            scripted: AIMessage = next(self._cursor)
            return scripted.model_copy(deep=True)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: Any = None,
        **kwargs: Any,
    ) -> ChatResult:
        time.sleep(self.delay)
        return self._result(messages)

    def _result(self, messages: list[BaseMessage]) -> ChatResult:
        message = self._next(messages)
        message.response_metadata = {"model_name": f"{self.model}-2025", "finish_reason": "stop"}
        return ChatResult(generations=[ChatGeneration(message=message)])

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: Any = None,
        **kwargs: Any,
    ) -> ChatResult:
        await asyncio.sleep(self.delay)  # lets concurrent runs interleave
        return self._result(messages)

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: Any = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        message = self._next(messages)
        for token in re.split(r"(\s)", str(message.content)):
            if token:
                yield ChatGenerationChunk(message=AIMessageChunk(content=token))
        # Like OpenAI's include_usage: a last chunk with no content and the usage (and, here,
        # the tool calls in one piece).
        yield ChatGenerationChunk(
            message=AIMessageChunk(
                content="",
                tool_call_chunks=[
                    {
                        "id": call["id"],
                        "name": call["name"],
                        "args": json.dumps(call["args"]),
                        "index": index,
                    }
                    for index, call in enumerate(message.tool_calls)
                ],
                usage_metadata=message.usage_metadata,
                response_metadata={"model_name": f"{self.model}-2025", "finish_reason": "stop"},
            )
        )

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: Any = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        for chunk in self._stream(messages, stop=stop, **kwargs):
            yield chunk

    def bind_tools(
        self, tools: Sequence[Any], **kwargs: Any
    ) -> Runnable[LanguageModelInput, AIMessage]:
        return self.bind(tools=[convert_to_openai_tool(tool) for tool in tools], **kwargs)


class ScriptedLLM(BaseLLM):
    """A completion model (``BaseLLM``, not a chat model) completing each prompt with
    ``completion: <prompt>``, reporting usage in ``llm_output`` as OpenAI's completion API does.
    No ``_stream``/``_astream``: LangChain streams it as one ``invoke``."""

    fail_status: int | None = None
    delay: float = 0.0

    @property
    def _llm_type(self) -> str:
        return "scripted-llm"

    def _generate(
        self,
        prompts: list[str],
        stop: list[str] | None = None,
        run_manager: Any = None,
        **kwargs: Any,
    ) -> LLMResult:
        time.sleep(self.delay)
        return self._result(prompts)

    async def _agenerate(
        self,
        prompts: list[str],
        stop: list[str] | None = None,
        run_manager: Any = None,
        **kwargs: Any,
    ) -> LLMResult:
        await asyncio.sleep(self.delay)
        return self._result(prompts)

    def _result(self, prompts: list[str]) -> LLMResult:
        if self.fail_status is not None:
            raise ProviderError("the provider is overloaded", self.fail_status)
        return LLMResult(
            generations=[[Generation(text=f"completion: {prompt}")] for prompt in prompts],
            llm_output={
                "model_name": "scripted-instruct",
                "token_usage": {"prompt_tokens": 8, "completion_tokens": 4, "total_tokens": 12},
            },
        )


class FailingMidStreamModel(ScriptedChatModel):
    """Streams ``chunks``, then the provider drops the call with a 502."""

    chunks: list[AIMessageChunk] = []

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: Any = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        for chunk in self.chunks:
            yield ChatGenerationChunk(message=chunk.model_copy())
        raise ProviderError("upstream connection reset", 502)


class KeywordRetriever(BaseRetriever):
    """Returns the documents whose text contains a word of the query."""

    documents: list[Document]

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        if query == "explode":
            raise ProviderError("index unavailable", 503)
        words = set(query.lower().split())
        return [d for d in self.documents if words & set(d.page_content.lower().split())]

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun
    ) -> list[Document]:
        return self._get_relevant_documents(query, run_manager=run_manager.get_sync())


class BrokenTool(BaseTool):
    """A tool whose backend is down."""

    name: str = "lookup_order"
    description: str = "Look an order up by id."

    def _run(self, order_id: str) -> str:
        raise ProviderError(f"order service down for {order_id}", 502)
