"""The ``voker_django`` app: configuration at start-up.

``INSTALLED_APPS += ["voker_django"]`` makes Django run :meth:`VokerConfig.ready` once per
process, which:

1. validates ``settings.VOKER`` (a bad value is logged here and reported by ``manage.py check``
   as ``voker_django.E001``; the middleware refuses to load with it, so no server starts with it);
2. configures the process-wide ``VokerClient`` from ``settings.VOKER`` (``API_KEY``,
   ``BASE_URL``, ``CAPTURE_CONTENT``), falling back to the environment (``VOKER_API_KEY``...)
   for what the settings leave out — when the settings name none of them, the client is created
   from the environment on first use, as anywhere else;
3. registers ``AGENTS`` in the background, in processes that serve requests (the rule is in
   :mod:`voker_django.agents`);
4. with ``settings.VOKER["CELERY"]`` true, instruments Celery (see :meth:`VokerConfig.celery`).
"""

from __future__ import annotations

import logging
import os
import sys

from django.apps import AppConfig
from django.core.exceptions import ImproperlyConfigured

__all__ = ["VokerConfig"]

logger = logging.getLogger("voker.django")


class VokerConfig(AppConfig):
    name = "voker_django"
    label = "voker_django"
    verbose_name = "Voker"

    def ready(self) -> None:
        import voker_django.checks  # noqa: F401  (registers the system checks)
        from voker_django.agents import register_in_background, should_register_at_startup
        from voker_django.conf import get_settings

        try:
            settings = get_settings()
        except ImproperlyConfigured as exc:
            logger.error("voker: %s — Voker is not configured", exc)
            return
        try:
            if settings.client_options:
                import voker_core

                voker_core.configure(**settings.client_options)
            if should_register_at_startup(sys.argv, os.environ):
                register_in_background(settings)
            if settings.celery:
                self.celery()
        except Exception:
            # Start-up of the site must not depend on Voker.
            logger.warning("voker: start-up configuration failed", exc_info=True)

    def celery(self) -> None:
        """CELERY hook: make Celery tasks carry the Voker context of whoever queued them.

        ``voker_core.integrations.celery.instrument()`` hooks Celery's signals for every app of
        the process; when Celery (or that module) is not installed this does nothing.
        """
        try:
            from voker_core.integrations.celery import instrument
        except ImportError:
            logger.info("voker: settings.VOKER['CELERY'] is set but Celery is not installed")
            return
        instrument()
