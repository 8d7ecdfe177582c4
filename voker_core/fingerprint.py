"""The fingerprint payload: what kind of process is sending events.

Built once per process by the delivery worker (never on the caller's thread). Git facts are
read from ``.git`` files directly when possible and otherwise from ``git`` with a short
timeout; every failure is ignored, so building the payload never blocks for long or raises.
"""

from __future__ import annotations

import functools
import importlib.metadata
import logging
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

from voker_core._version import __version__

__all__ = ["fingerprint_payload"]

logger = logging.getLogger("voker")

_SDK_DISTRIBUTIONS = {
    "openai_sdk_version": "openai",
    "anthropic_sdk_version": "anthropic",
    "gemini_sdk_version": "google-genai",
}

GIT_TIMEOUT = 0.5


def _version_of(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None
    except Exception:  # a broken installation must not stop delivery
        return None


def _all_packages() -> dict[str, str]:
    packages: dict[str, str] = {}
    try:
        for dist in importlib.metadata.distributions():
            name, version = _name_and_version(dist)
            if name:
                packages[name] = version or ""
    except Exception:
        logger.debug("voker: could not list installed packages", exc_info=True)
    return dict(sorted(packages.items()))


def _name_and_version(dist: importlib.metadata.Distribution) -> tuple[str | None, str | None]:
    """``Name`` and ``Version`` from the head of a distribution's metadata.

    Reads the header lines only: ``dist.metadata`` runs the e-mail parser over the whole file
    (long descriptions included) on every access, which made listing a hundred packages cost
    this process ~100 ms at its first delivery.
    """
    text = dist.read_text("METADATA") or dist.read_text("PKG-INFO")
    if not text:
        return None, None
    name = version = None
    for line in text.splitlines():
        if not line:
            break  # the end of the headers
        if name is None and line[:5].lower() == "name:":
            name = line[5:].strip()
        elif version is None and line[:8].lower() == "version:":
            version = line[8:].strip()
        if name is not None and version is not None:
            break
    return name, version


def _find_git_dir(start: Path) -> Path | None:
    for directory in (start, *start.parents):
        candidate = directory / ".git"
        if candidate.is_dir():
            return candidate
        if candidate.is_file():  # worktrees and submodules: "gitdir: <path>"
            text = candidate.read_text(encoding="utf-8", errors="replace").strip()
            if text.startswith("gitdir:"):
                return (directory / text[len("gitdir:") :].strip()).resolve()
    return None


def _git(args: list[str], cwd: Path) -> str | None:
    try:
        result = subprocess.run(
            ["git", *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    out = result.stdout.strip()
    return out if result.returncode == 0 and out else None


def _git_facts(cwd: Path) -> dict[str, str]:
    git_dir = _find_git_dir(cwd)
    if git_dir is None:
        return {}
    facts: dict[str, str] = {}
    try:
        head = (git_dir / "HEAD").read_text(encoding="utf-8").strip()
    except OSError:
        return {}
    commit: str | None = None
    if head.startswith("ref:"):
        ref = head[4:].strip()
        if ref.startswith("refs/heads/"):
            facts["git_branch"] = ref[len("refs/heads/") :]
        ref_file = git_dir / ref
        if ref_file.is_file():
            commit = ref_file.read_text(encoding="utf-8").strip()
    elif head:
        commit = head
    # Packed refs, the remote URL and the commit date need git itself; bounded by GIT_TIMEOUT.
    commit = commit or _git(["rev-parse", "HEAD"], cwd)
    if commit:
        facts["git_commit_hash"] = commit
        date = _git(["show", "-s", "--format=%cI", commit], cwd)
        if date:
            facts["git_commit_date"] = date
    url = _git(["config", "--get", "remote.origin.url"], cwd)
    if url:
        facts["git_repository_url"] = url
    return facts


def fingerprint_payload(*, include_packages: bool = True) -> dict[str, Any]:
    """The body of ``PUT /api/v1/fingerprints`` for this process. Never raises.

    Computed once per process (listing packages and asking git take tens of milliseconds, and
    every client of the process describes the same runtime); each call returns a fresh copy.
    """
    payload = _cached_payload(include_packages)
    return {
        key: dict(value) if isinstance(value, dict) else value for key, value in payload.items()
    }


def _system() -> str:
    """``Linux-6.1.0-x86_64``: the OS, its release and the machine.

    Not ``platform.platform()``: that reads ``platform.uname().processor``, which before Python
    3.12 is computed (``uname -p`` in a subprocess) under a lock shared by the whole process. This
    runs on the delivery thread, so a fork in that moment (gunicorn --preload, multiprocessing)
    would copy the held lock into the child, and the child would hang on its first
    ``platform.platform()`` (the OpenAI SDK calls it for its first request's headers). Naming
    single fields of ``uname()`` never computes the processor.
    """
    return "-".join(
        part for part in (platform.system(), platform.release(), platform.machine()) if part
    )


@functools.lru_cache(maxsize=2)
def _cached_payload(include_packages: bool) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "language": "python",
        "language_version": platform.python_version(),
        "system": _system(),
        "voker_sdk_version": __version__,
    }
    for key, distribution in _SDK_DISTRIBUTIONS.items():
        version = _version_of(distribution)
        if version:
            payload[key] = version
    if include_packages:
        payload["all_packages"] = _all_packages()
    try:
        payload.update(_git_facts(Path(os.getcwd())))
    except Exception:
        logger.debug("voker: could not read git facts", exc_info=True)
    return payload
