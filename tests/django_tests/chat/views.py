"""Views of the test project: they call LLMs the way an application does — through the wrapped
OpenAI client (pointed at the fake provider by ``OPENAI_BASE_URL``) and a LangChain runnable —
and pass no ``voker_*`` argument: the middleware and the decorator supply everything.

Each answer echoes the question (the fake provider's default), so a test can tell which request
an event came from.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

from asgiref.sync import async_to_sync, sync_to_async
from django.contrib.auth import aauthenticate, alogin, authenticate, login
from django.db import transaction
from django.http import (
    HttpRequest,
    HttpResponse,
    JsonResponse,
    StreamingHttpResponse,
)
from django.template.response import TemplateResponse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.cache import cache_page
from django.views.generic import TemplateView
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

import voker_core
import voker_django
from voker_core.ai.provider_openai import AsyncOpenAI, OpenAI
from voker_core.client import get_client
from voker_langchain import VokerCallbackHandler

MODEL = "gpt-4.1-mini"


@functools.lru_cache(maxsize=16)
def _openai(base_url: str) -> OpenAI:
    return OpenAI(api_key="test-key", base_url=base_url, max_retries=0)


def openai_client() -> OpenAI:
    """One wrapped client per provider URL (each test starts its own fake provider)."""
    return _openai(os.environ["OPENAI_BASE_URL"])


def async_openai_client() -> AsyncOpenAI:
    # An async HTTP pool belongs to one event loop, and tests run many: one client per call.
    return AsyncOpenAI(api_key="test-key", base_url=os.environ["OPENAI_BASE_URL"], max_retries=0)


def _question(request: HttpRequest) -> str:
    return request.GET.get("q") or request.POST.get("q") or "hello"


def _messages(question: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": question}]


def chat(request: HttpRequest) -> JsonResponse:
    completion = openai_client().chat.completions.create(
        model=MODEL, messages=_messages(_question(request))
    )
    return JsonResponse({"reply": completion.choices[0].message.content})


async def achat(request: HttpRequest) -> JsonResponse:
    async with async_openai_client() as client:
        completion = await client.chat.completions.create(
            model=MODEL, messages=_messages(_question(request))
        )
    return JsonResponse({"reply": completion.choices[0].message.content})


def atomic_chat(request: HttpRequest) -> JsonResponse:
    """Calls the model inside a transaction that it then rolls back, and still answers 200."""
    try:
        with transaction.atomic():
            chat(request)
            raise ValueError("a validation step after the LLM call failed")
    except ValueError:
        return JsonResponse({"reply": None, "error": "please retry"})


@transaction.atomic
def atomic_chat_then_save(request: HttpRequest) -> JsonResponse:
    """As under ATOMIC_REQUESTS: calls the model, then reads the session's key (to link the
    conversation, say) and saves something in the session itself."""
    chat(request)
    request.session["last_question"] = _question(request)
    request.session.save()
    return JsonResponse({"session_key": request.session.session_key})


def whoami(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"user": request.user.get_username() or None})


def nothing(request: HttpRequest) -> HttpResponse:
    """A page that records nothing (and so must cost no query)."""
    return HttpResponse("ok")


@voker_django.streams_llm
def stream_chat(request: HttpRequest) -> StreamingHttpResponse:
    return undeclared_stream_chat(request)


def undeclared_stream_chat(request: HttpRequest) -> StreamingHttpResponse:
    """A streaming chat view not declared with ``streams_llm`` (nor ``agent``)."""
    question = _question(request)

    def body() -> Iterator[str]:
        # The LLM call happens while the server iterates the body, after the view returned.
        stream = openai_client().chat.completions.create(
            model=MODEL, messages=_messages(question), stream=True
        )
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                yield chunk.choices[0].delta.content

    return StreamingHttpResponse(body(), content_type="text/plain")


@voker_django.streams_llm
async def astream_chat(request: HttpRequest) -> StreamingHttpResponse:
    question = _question(request)

    async def body() -> AsyncIterator[str]:
        async with async_openai_client() as client:
            stream = await client.chat.completions.create(
                model=MODEL, messages=_messages(question), stream=True
            )
            async for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    yield chunk.choices[0].delta.content

    return StreamingHttpResponse(body(), content_type="text/plain")


# What the bodies of the cut-off streams below saw when they were closed (the tests read it).
CLOSED_BODIES: list[dict[str, Any]] = []

_WORDS = ("one ", "two ", "three ")


def _record_cut(sent: int) -> None:
    """What a streaming view does when the client went away before the end of the answer."""
    ctx = voker_core.current_context()
    try:
        get_client().events.create(event_name="stream_cut", properties={"sent": sent})
        outcome = "recorded"
    except Exception as exc:  # swallowed by Django's response.close(): keep it for the test
        outcome = repr(exc)
    CLOSED_BODIES.append({"agent": ctx.agent, "session": ctx.session, "outcome": outcome})


@voker_django.agent("billing-bot")
def cut_stream(request: HttpRequest) -> StreamingHttpResponse:
    """A streamed answer whose ``finally`` records when the client leaves before its end."""

    def body() -> Iterator[str]:
        sent = 0
        try:
            for word in _WORDS:
                sent += 1
                yield word
        finally:
            if sent < len(_WORDS):
                _record_cut(sent)

    return StreamingHttpResponse(body(), content_type="text/plain")


class _ClosingBody:
    """A body that is not a generator, with a ``close()`` that records (never iterated for
    ``HEAD``, say, but closed all the same)."""

    def __init__(self) -> None:
        self._words = iter(_WORDS)
        self._sent = 0

    def __iter__(self) -> _ClosingBody:
        return self

    def __next__(self) -> str:
        word = next(self._words)
        self._sent += 1
        return word

    def close(self) -> None:
        if self._sent < len(_WORDS):
            _record_cut(self._sent)


@voker_django.agent("billing-bot")
def closing_body_stream(request: HttpRequest) -> StreamingHttpResponse:
    return StreamingHttpResponse(_ClosingBody(), content_type="text/plain")


@voker_django.agent("billing-bot")
async def acut_stream(request: HttpRequest) -> StreamingHttpResponse:
    """The async twin of :func:`cut_stream`."""

    async def body() -> AsyncIterator[str]:
        sent = 0
        try:
            for word in _WORDS:
                sent += 1
                yield word
        finally:
            if sent < len(_WORDS):
                _record_cut(sent)

    return StreamingHttpResponse(body(), content_type="text/plain")


def csv_export(request: HttpRequest) -> StreamingHttpResponse:
    """A streamed download that has nothing to do with LLMs (and so must cost no query)."""
    return StreamingHttpResponse((f"row,{i}\n" for i in range(3)), content_type="text/csv")


async def aticks(request: HttpRequest) -> StreamingHttpResponse:
    """A non-LLM server-sent-events stream, async (under ASGI)."""

    async def body() -> AsyncIterator[str]:
        for i in range(3):
            yield f"data: tick {i}\n\n"

    return StreamingHttpResponse(body(), content_type="text/event-stream")


@voker_django.streams_llm
class StreamChatView(View):
    """A class-based streaming chat view, declared with ``streams_llm``."""

    def get(self, request: HttpRequest) -> StreamingHttpResponse:
        return undeclared_stream_chat(request)


def _fake_model(question: str) -> GenericFakeChatModel:
    return GenericFakeChatModel(messages=iter([AIMessage(content=f"Chain: {question}")]))


def chain(request: HttpRequest) -> JsonResponse:
    question = _question(request)
    message = _fake_model(question).invoke(
        question, config={"callbacks": [VokerCallbackHandler()], "run_name": "chat-chain"}
    )
    return JsonResponse({"reply": message.content})


async def achain(request: HttpRequest) -> JsonResponse:
    question = _question(request)
    message = await _fake_model(question).ainvoke(
        question, config={"callbacks": [VokerCallbackHandler()], "run_name": "chat-chain"}
    )
    return JsonResponse({"reply": message.content})


def feedback(request: HttpRequest) -> JsonResponse:
    """A custom event: only a name and properties, the rest comes from the request."""
    get_client().events.create(event_name="feedback", properties={"score": 1})
    return JsonResponse({"ok": True})


async def afeedback(request: HttpRequest) -> JsonResponse:
    get_client().events.create(event_name="feedback", properties={"score": 1})
    return JsonResponse({"ok": True})


async def afeedback_beside_a_busy_thread(request: HttpRequest) -> JsonResponse:
    """A custom event recorded while a concurrent ``sync_to_async`` call of the same request
    holds the connection's thread, waiting for the event loop (``async_to_sync`` inside it)."""
    release = asyncio.Event()
    busy = threading.Event()

    async def until_released() -> None:
        await release.wait()

    def hold_the_thread() -> None:
        busy.set()
        async_to_sync(until_released)()

    holder = asyncio.ensure_future(sync_to_async(hold_the_thread)())
    assert await asyncio.to_thread(busy.wait, 5)
    get_client().events.create(event_name="feedback", properties={"score": 1})
    release.set()
    await holder
    return JsonResponse({"ok": True})


def current(request: HttpRequest) -> JsonResponse:
    """What the view sees of the Voker context (agent/version only: nothing lazy is resolved)."""
    ctx = voker_core.current_context()
    return JsonResponse({"agent": ctx.agent, "agent_version": ctx.agent_version})


@voker_django.agent("billing-bot", version="v2")
def billing(request: HttpRequest) -> JsonResponse:
    return chat(request)


@voker_django.agent("billing-bot")
async def abilling(request: HttpRequest) -> JsonResponse:
    return await achat(request)


@voker_django.agent("billing-bot")
def billing_stream(request: HttpRequest) -> StreamingHttpResponse:
    return undeclared_stream_chat(request)  # the agent decorator alone declares it


@voker_django.agent("search-bot", version="s1")
class SearchView(View):
    def get(self, request: HttpRequest) -> JsonResponse:
        return chat(request)


@voker_django.agent("deep-search-bot")
class DeepSearchView(SearchView):
    """A subclass decorated again: its own agent wins over the parent's."""


@method_decorator(voker_django.agent("async-search-bot"), name="dispatch")
class AsyncSearchView(View):
    async def get(self, request: HttpRequest) -> JsonResponse:
        return await achat(request)


def _summary(question: str) -> str:
    """An LLM call made while a template renders (a callable in its context)."""
    completion = openai_client().chat.completions.create(model=MODEL, messages=_messages(question))
    return completion.choices[0].message.content or ""


@voker_django.agent("billing-bot")
def summary_page(request: HttpRequest) -> TemplateResponse:
    """Rendered by the handler after the view returned, as every TemplateResponse is."""
    return TemplateResponse(
        request, "summary.html", {"summary": functools.partial(_summary, _question(request))}
    )


@voker_django.agent("billing-bot")
async def asummary_page(request: HttpRequest) -> TemplateResponse:
    return TemplateResponse(
        request, "summary.html", {"summary": functools.partial(_summary, _question(request))}
    )


@voker_django.agent("search-bot", version="s1")
class SummaryView(TemplateView):
    """A generic class-based view: its ``get`` returns an unrendered TemplateResponse."""

    template_name = "summary.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        question = _question(self.request)
        return {**super().get_context_data(**kwargs), "summary": lambda: _summary(question)}


# The cache middleware pickles the response from a post-render callback: nothing added to it
# for rendering may be left on it by then.
cached_summary_page = cache_page(60)(summary_page)


def login_view(request: HttpRequest) -> HttpResponse:
    data = json.loads(request.body or b"{}")
    user = authenticate(request, username=data.get("username"), password=data.get("password"))
    if user is None:
        return HttpResponse(status=403)
    login(request, user)
    return HttpResponse("logged in")


async def alogin_view(request: HttpRequest) -> HttpResponse:
    data = json.loads(request.body or b"{}")
    user = await aauthenticate(
        request, username=data.get("username"), password=data.get("password")
    )
    if user is None:
        return HttpResponse(status=403)
    await alogin(request, user)
    return HttpResponse("logged in")


async def alogin_chat(request: HttpRequest) -> JsonResponse:
    """Checks who the visitor is (``auser()``), logs them in, then calls the model."""
    if not (await request.auser()).is_authenticated:
        user = await aauthenticate(
            request, username=request.GET["username"], password=request.GET["password"]
        )
        await alogin(request, user)
    return await achat(request)


def queue_task(request: HttpRequest) -> JsonResponse:
    """Queues an LLM task on Celery, as a view that hands slow work to a worker does."""
    from tests.celery_tests.worker_app import ask

    result = ask.delay(_question(request))
    return JsonResponse({"task_id": result.id})
