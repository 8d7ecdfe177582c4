"""Scripted replies for the stand-in model server: the demo should read like a support desk.

Usage::

    fake = FakeLLMServer(default=support_reply).start()

Each request is answered by the first rule whose keywords all occur in the last user message
(case-insensitive), with a small simulated latency so the latency column means something.
Anything unmatched gets a polite generic answer, never an echo.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from voker_core.testing.fake_llm import RecordedRequest, Reply

# (keywords that must all appear, reply). First match wins, so specific rules come first.
RULES: Sequence[tuple[tuple[str, ...], str]] = (
    (
        ("summarise", "ticket"),
        "Duplicate charge on the March invoice (card ending 4242): refund the second charge "
        "and confirm by email. Priority: high.",
    ),
    (
        ("order", "arrived"),
        "Sorry about the wait! Order #1042 left our warehouse on Monday and is at your local "
        "DHL depot now; it should be delivered tomorrow before noon.",
    ),
    (
        ("change", "address"),
        "Yes, while the parcel is still at the depot. I have sent a secure link to the email on "
        "your account; the new address takes effect within the hour.",
    ),
    (
        ("thanks",),
        "You're welcome, happy to help! Is there anything else I can do for you today?",
    ),
    (
        ("hours",),
        "We're here Monday to Friday, 8:00-20:00 CET, and on Saturdays 9:00-14:00. Outside "
        "those hours I can still answer most questions.",
    ),
    (
        ("ship", "norway"),
        "We do! Orders to Norway ship with DHL Express in 2-4 business days, and customs "
        "duties are included at checkout.",
    ),
)

FALLBACK = "Thanks for reaching out! Could you share your order number so I can look into it?"


def _text_of(content: Any) -> str:
    """The text of a message's content: a string, or a list of text parts/blocks."""
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence):
        return " ".join(str(part.get("text", "")) for part in content if isinstance(part, Mapping))
    return ""


def last_user_text(body: Any) -> str:
    """The last user message of an OpenAI chat or Anthropic messages request body."""
    messages = body.get("messages") if isinstance(body, Mapping) else None
    for message in reversed(messages if isinstance(messages, list) else []):
        if isinstance(message, Mapping) and message.get("role") == "user":
            return _text_of(message.get("content"))
    return ""


def scripted_text(user_text: str) -> str:
    """The support desk's answer to ``user_text``."""
    lowered = user_text.lower()
    for keywords, reply in RULES:
        if all(keyword in lowered for keyword in keywords):
            return reply
    return FALLBACK


def support_reply(request: RecordedRequest) -> Reply:
    """`FakeLLMServer` default: a scripted answer after a latency growing with its length."""
    text = scripted_text(last_user_text(request.body))
    return Reply(text=text, delay=min(0.15 + 0.006 * len(text.split()), 0.5))
