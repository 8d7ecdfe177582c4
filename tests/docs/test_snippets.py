"""Every ```python block of README.md and docs/*.md runs as a user would run it.

Each block is one test case (id ``README.md:L27``, the line of its opening fence). It is written to
``snippet.py`` in a fresh temporary directory and run there as ``python snippet.py`` in a fresh
process (``sys.executable``, ``TIMEOUT`` seconds), the block's text unchanged (a block indented
under a list item is dedented), no prelude. The environment points every SDK at local servers
instead of the internet:

- ``VOKER_BASE_URL``/``VOKER_API_KEY`` (``VOKER_ENABLED=true``) at the test's ``voker_server``;
- ``OPENAI_*``, ``ANTHROPIC_*``, ``GEMINI_API_KEY`` and ``GOOGLE_GEMINI_BASE_URL`` (read by
  google-genai's ``_base_url.py`` when a client is created) at the test's ``fake_llm``, from
  ``FakeLLMServer.environ()``; ``AZURE_OPENAI_API_KEY`` is a placeholder too (Azure calls are
  never made: the docs' Azure endpoint is only constructed);
- other variables of those families are removed, so the developer's real keys never leak in.

The block passes when it exits with status 0 within ``TIMEOUT`` seconds, its stderr holds no
traceback (the SDK logs its own internal errors instead of raising them), and exactly the
declared number of ``llm`` events landed on the devserver (0 unless declared; the process flushes
at exit, so they are there when it ends).

Markers: an HTML comment on the line right before the opening fence (indented like the fence)::

    <!-- snippet: events=2 -->            # exactly 2 `llm` events must land (default: 0)
    <!-- snippet: continues -->           # run after the previous python block of the same file,
                                          # in one script (events= then counts the whole script)
    <!-- snippet: file=proj/celery.py --> # also save this block as that file in the working
                                          # directory of every later block of the same file
    <!-- snippet: pytest -->              # a test module: run it with `python -m pytest`
    <!-- snippet: skip (reason) -->       # a fragment that cannot run alone; reason required

Several markers go in one comment, separated by commas: ``<!-- snippet: continues, events=1 -->``.
``skip`` stands alone. Only blocks that cannot run by themselves are skipped (settings excerpts,
code using the reader's ``client``/``chain``/``request``, ``>>>`` transcripts); a block that fails
because it is wrong stays failing. Nothing is added to a block: an ``async def`` it defines but
never calls is never run.

Speed: the processes cache bytecode under a ``PYTHONPYCACHEPREFIX`` in the session's temporary
directory (so the provider SDKs are compiled once, and the virtualenv is not written to).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from voker_core.testing.plugin import TEST_API_KEY

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
TIMEOUT = 60

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<ticks>`{3,})(?P<info>[^`]*)$")
_MARKER = re.compile(r"^[ \t]*<!--\s*snippet:(?P<body>.*?)-->\s*$")
_SKIP = re.compile(r"^skip\s*\((?P<reason>.+)\)$", re.DOTALL)
# Environment variables of these families are the test's to set (or to remove).
_OWNED_PREFIXES = ("VOKER_", "OPENAI_", "ANTHROPIC_", "GEMINI_", "GOOGLE_", "AZURE_OPENAI_")


@dataclass
class Snippet:
    document: str  # "README.md", "docs/providers.md"
    line: int  # 1-based line of the opening fence
    code: str
    events: int = 0
    continues: bool = False
    file: str | None = None
    pytest: bool = False
    skip: str | None = None
    previous: Snippet | None = None  # the block this one continues
    files: dict[str, str] = field(default_factory=dict)  # earlier blocks' file= outputs

    @property
    def id(self) -> str:
        return f"{self.document}:L{self.line}"

    def script(self) -> str:
        """The code to run: the chain of blocks this one continues, then this one."""
        parts = [self.code]
        block = self
        while block.continues:
            assert block.previous is not None
            block = block.previous
            parts.append(block.code)
        return "\n".join(reversed(parts))


def _parse_marker(body: str, where: str) -> dict[str, Any]:
    body = body.strip()
    skip = _SKIP.match(body)
    if skip:
        return {"skip": skip.group("reason").strip()}
    options: dict[str, Any] = {}
    for token in filter(None, (part.strip() for part in body.split(","))):
        name, _, value = token.partition("=")
        if token == "continues":
            options["continues"] = True
        elif token == "pytest":
            options["pytest"] = True
        elif name == "events" and value.isdigit():
            options["events"] = int(value)
        elif name == "file" and value:
            options["file"] = value
        else:
            raise ValueError(f"{where}: unknown snippet marker {token!r} in {body!r}")
    return options


def _python_blocks(path: Path) -> list[Snippet]:
    document = path.relative_to(ROOT).as_posix()
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Snippet] = []
    files: dict[str, str] = {}
    index = 0
    while index < len(lines):
        fence = _FENCE.match(lines[index])
        if fence is None:
            index += 1
            continue
        indent, ticks = fence.group("indent"), fence.group("ticks")
        end = index + 1
        while end < len(lines) and lines[end].strip() != ticks:
            end += 1
        if fence.group("info").strip().split(" ")[0] == "python":
            where = f"{document}:L{index + 1}"
            body = [
                line[len(indent) :] if line.startswith(indent) else line
                for line in lines[index + 1 : end]
            ]
            marker = _MARKER.match(lines[index - 1]) if index else None
            options = _parse_marker(marker.group("body"), where) if marker else {}
            snippet = Snippet(
                document, index + 1, textwrap.dedent("\n".join(body)) + "\n", **options
            )
            snippet.files = dict(files)
            if snippet.continues:
                if not blocks or blocks[-1].skip:
                    raise ValueError(f"{where}: 'continues' needs a previous block that runs")
                snippet.previous = blocks[-1]
            if snippet.file and not snippet.skip:
                files[snippet.file] = snippet.code
            blocks.append(snippet)
        index = end + 1
    return blocks


SNIPPETS = [snippet for path in DOCUMENTS for snippet in _python_blocks(path)]


def test_markers_sit_on_python_blocks() -> None:
    """Every marker comment is directly above a ```python fence (else it would be ignored)."""
    stray = []
    for path in DOCUMENTS:
        lines = path.read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines, start=1):
            if _MARKER.match(line):
                following = lines[number] if number < len(lines) else ""
                fence = _FENCE.match(following)
                if fence is None or not fence.group("info").strip().startswith("python"):
                    stray.append(f"{path.relative_to(ROOT)}:L{number}: {line.strip()}")
    assert not stray, "snippet markers not attached to a ```python block:\n" + "\n".join(stray)


def _run(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[int | None, str, str]:
    """``python ARGV`` in ``cwd``: ``(returncode, stdout, stderr)``, returncode ``None`` after
    ``TIMEOUT`` seconds."""
    try:
        result = subprocess.run(
            [sys.executable, *argv],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
    except subprocess.TimeoutExpired as exc:
        return None, str(exc.stdout), str(exc.stderr)
    return result.returncode, result.stdout, result.stderr


@pytest.fixture(scope="session")
def pycache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the snippets' processes cache bytecode: compiled once for the whole session, not
    written into the virtualenv."""
    return tmp_path_factory.mktemp("snippet-pycache")


def _environment(pycache: Path, voker_server: Any, fake_llm: Any) -> dict[str, str]:
    """This process's environment without the variables the snippets' SDKs read, then those
    variables pointing at the test's servers."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(_OWNED_PREFIXES) and name != "PYTHONDONTWRITEBYTECODE"
    }
    env["PYTHONPYCACHEPREFIX"] = str(pycache)
    env.update(fake_llm.environ())
    env.update(
        VOKER_BASE_URL=voker_server.base_url,
        VOKER_API_KEY=voker_server.api_key or TEST_API_KEY,
        VOKER_ENABLED="true",
        AZURE_OPENAI_API_KEY="fake-azure-key",
    )
    return env


@pytest.mark.parametrize(
    "snippet",
    [
        pytest.param(snippet, id=snippet.id, marks=[pytest.mark.skip(reason=snippet.skip)])
        if snippet.skip
        else pytest.param(snippet, id=snippet.id)
        for snippet in SNIPPETS
    ],
)
def test_snippet(
    snippet: Snippet, pycache: Path, voker_server: Any, fake_llm: Any, tmp_path: Path
) -> None:
    for name, text in snippet.files.items():
        target = tmp_path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    if snippet.pytest:
        (tmp_path / "test_snippet.py").write_text(snippet.script(), encoding="utf-8")
        argv = ["-m", "pytest", "-q", "-p", "no:cacheprovider", "test_snippet.py"]
    else:
        (tmp_path / "snippet.py").write_text(snippet.script(), encoding="utf-8")
        argv = ["snippet.py"]
    returncode, stdout, stderr = _run(argv, tmp_path, _environment(pycache, voker_server, fake_llm))
    report = f"{snippet.id} exited with {returncode}\nstdout:\n{stdout}\nstderr:\n{stderr}"
    assert returncode is not None, f"{snippet.id} did not finish within {TIMEOUT}s\n{report}"
    assert returncode == 0, report
    assert "Traceback" not in stderr, report
    landed = voker_server.events(event_name="llm")
    assert len(landed) == snippet.events, (
        f"{snippet.id}: expected {snippet.events} llm event(s), {len(landed)} landed: "
        f"{[event['properties'].get('api') for event in landed]}\n{report}"
    )
