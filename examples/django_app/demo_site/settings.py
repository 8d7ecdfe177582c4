"""Settings of the Voker demo site: a minimal chat app with the Voker middleware.

Everything Voker needs comes from the environment, so the same site runs offline against the
local devserver and fake model server, or against the real services:

- ``VOKER_API_KEY`` / ``VOKER_BASE_URL`` — where events go (e.g. ``http://127.0.0.1:8787``);
- ``OPENAI_API_KEY`` / ``OPENAI_BASE_URL`` — the model server (the OpenAI SDK reads them).
"""

from __future__ import annotations

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "demo-only-not-secret")
DEBUG = os.environ.get("DJANGO_DEBUG", "1") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "voker_django",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "voker_django.middleware.VokerMiddleware",  # after sessions and auth
]

ROOT_URLCONF = "demo_site.urls"
WSGI_APPLICATION = "demo_site.wsgi.application"
ASGI_APPLICATION = "demo_site.asgi.application"

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("DEMO_DB", str(BASE_DIR / "db.sqlite3")),
    }
}

USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

VOKER = {
    "AGENT": "demo-chat",
    "AGENT_VERSION": "v1",
    "AGENTS": {
        "demo-chat": {
            "description": "The demo site's chat assistant",
            "versions": {"v1": "Answers in one short paragraph"},
        },
    },
}
