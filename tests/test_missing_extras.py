"""Importing a wrapper or plug-in whose framework is not installed raises an ImportError that
names the extra to install (DESIGN §1). Each case runs in a fresh interpreter in which the
framework's packages cannot be imported."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

# module -> (the packages hidden from it, the extra its message must name)
GATED = {
    "voker_core.ai.provider_openai": (["openai"], "openai"),
    "voker_core.ai.provider_anthropic": (["anthropic"], "anthropic"),
    "voker_core.ai.provider_gemini": (["google.genai", "google"], "gemini"),
    "voker_django": (["django", "asgiref"], "django"),
    "voker_flask": (["flask"], "flask"),
    "voker_langchain": (["langchain_core"], "langchain"),
    "voker_core.integrations.celery": (["celery"], "celery"),
}


@pytest.mark.parametrize("module", sorted(GATED))
def test_a_missing_framework_names_its_extra(module: str) -> None:
    hidden, extra = GATED[module]
    script = textwrap.dedent(
        f"""
        import sys
        for name in {hidden!r}:
            sys.modules[name] = None  # "import name" now raises ImportError
        try:
            import {module}
        except ImportError as exc:
            print(exc)
        else:
            print("imported")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert f"pip install 'voker-integrations[{extra}]'" in result.stdout, result.stdout


def test_the_core_needs_no_extra() -> None:
    script = textwrap.dedent(
        """
        import sys
        for name in ("openai", "anthropic", "google", "django", "flask", "langchain_core",
                     "celery", "pytest"):
            sys.modules[name] = None
        import voker_core, voker_core.devserver, voker_core.testing.fake_llm
        print(voker_core.VokerClient.__name__)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "VokerClient"
