"""Settings of the Django project the voker_django tests run against (pytest-django).

A plain project: sessions in the database, the auth app with users, ``VokerMiddleware`` after the
session and authentication middleware, and a default agent. No CSRF middleware, so the real-server
tests can POST from ``httpx`` without a token dance.
"""

from __future__ import annotations

SECRET_KEY = "voker-django-tests-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["*"]
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "voker_django",
    "tests.django_tests.chat",
]

MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "voker_django.middleware.VokerMiddleware",
]

# Templates from memory: the views' TemplateResponses (what generic class-based views return).
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "OPTIONS": {
            "loaders": [
                ("django.template.loaders.locmem.Loader", {"summary.html": "<p>{{ summary }}</p>"})
            ]
        },
    }
]

ROOT_URLCONF = "tests.django_tests.project.urls"
ASGI_APPLICATION = "tests.django_tests.project.asgi.application"
WSGI_APPLICATION = "tests.django_tests.project.wsgi.application"

STATIC_URL = "static/"  # the live server's static handler needs one

DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}

# Fast hashing: the tests create users, they do not test hashing.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# No API key or base URL here: each test installs a client for its own devserver
# (the ``default_voker_client`` fixture), exactly as VOKER_API_KEY/VOKER_BASE_URL would.
VOKER = {
    "AGENT": "support-bot",
    "AGENT_VERSION": "v1",
}
