"""The public API type-checks for users: a misspelt client option or voker_* keyword is a type
error in their code, not only a run-time one (mypy --strict on a user's module)."""

from __future__ import annotations

import textwrap
from pathlib import Path

from mypy import api as mypy_api

USER_CODE = """
from typing import Any

from pydantic import BaseModel
from typing_extensions import assert_type

import voker_core
from voker_core import VokerClient
from voker_core.ai.provider_anthropic import Anthropic
from voker_core.ai.provider_gemini import Client
from voker_core.ai.provider_openai import OpenAI

client = VokerClient(api_key="k", flush_timeout=2, capture_content=False)
options: dict[str, Any] = {"debug": True}
VokerClient(**options)
voker_core.configure(api_key="k", base_url="http://localhost:1", max_queue_size=10)
OpenAI(api_key="k", voker_client=client).chat.completions.create(
    voker_agent="a", voker_session="s", model="m", messages=[{"role": "user", "content": "hi"}]
)


class Answer(BaseModel):
    text: str


openai_client = OpenAI(api_key="k")
anthropic_client = Anthropic(api_key="k", max_retries=1, voker_client=client)
gemini_client = Client(api_key="k", http_options={"timeout": 1000}, voker_client=client)
keys: Any = {"voker_agent": "a", "voker_session": "s"}
with openai_client.chat.completions.stream(
    model="m", messages=[], response_format=Answer, **keys
) as chat_stream:
    assert_type(chat_stream.get_final_completion().choices[0].message.parsed, Answer | None)
assert_type(
    openai_client.responses.parse(model="m", input="hi", text_format=Answer, **keys).output_parsed,
    Answer | None,
)
assert_type(
    anthropic_client.messages.parse(
        model="m", max_tokens=9, messages=[], output_format=Answer, **keys
    ).parsed_output,
    Answer | None,
)
with anthropic_client.beta.messages.stream(
    model="m", max_tokens=9, messages=[], output_format=Answer, **keys
) as message_stream:
    assert_type(message_stream.get_final_message().parsed_output, Answer | None)

VokerClient(flush_timout=2)  # error
Anthropic(api_ky="k")  # error
Client(api_ky="k")  # error
voker_core.configure(max_queue_size="big")  # error
OpenAI(api_key="k").chat.completions.create(voker_sesion="s", model="m", messages=[])  # error
"""


def test_user_code_type_checks_and_typos_are_caught(tmp_path: Path) -> None:
    code = textwrap.dedent(USER_CODE).lstrip("\n")
    module = tmp_path / "user_code.py"
    module.write_text(code)
    expected = {n for n, line in enumerate(code.splitlines(), 1) if line.endswith("# error")}
    out, err, status = mypy_api.run(
        ["--strict", "--no-incremental", "--cache-dir", str(tmp_path / "cache"), str(module)]
    )
    errors = {int(line.split(":")[1]) for line in out.splitlines() if ": error:" in line}
    assert status == 1, out + err
    assert errors == expected, out
    assert 'did you mean "flush_timeout"' in out
    assert 'did you mean "voker_session"' in out
