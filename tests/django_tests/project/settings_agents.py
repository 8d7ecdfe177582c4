"""The test project with ``AGENTS`` declared and a file database: for the start-up tests that
run the project in a subprocess (``VOKER_API_KEY``/``VOKER_BASE_URL`` come from the environment).
"""

from __future__ import annotations

import os

from tests.django_tests.project.settings import *  # noqa: F403
from tests.django_tests.project.settings import VOKER

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("VOKER_TEST_DB", ":memory:"),
    }
}

VOKER = {
    **VOKER,
    "AGENTS": {
        "support-bot": {
            "description": "Answers support questions",
            "versions": {"v1": "first prompt", "v2": "shorter answers"},
        },
        "billing-bot": {"description": "Explains invoices"},
    },
}
