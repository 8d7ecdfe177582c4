"""ASGI entry point of the test project (``uvicorn tests.django_tests.project.asgi:application``)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.django_tests.project.settings")

application = get_asgi_application()
