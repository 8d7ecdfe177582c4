"""``manage.py voker_register_agents``: register ``settings.VOKER["AGENTS"]`` now, and report.

Unlike the start-up registration (background, best effort), this talks to Voker synchronously
with ``voker_core.ApiClient`` — handy in a deploy script — and exits non-zero if anything
failed::

    $ python manage.py voker_register_agents
    support-bot: agent #1, versions v1 (#1), v2 (#2)
    Registered 1 agent(s) with Voker at https://evals.voker.ai.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from voker_django.agents import register_agents
from voker_django.conf import get_settings


class Command(BaseCommand):
    help = "Register the agents and versions of settings.VOKER['AGENTS'] with Voker, now."

    def handle(self, *args: Any, **options: Any) -> None:
        from voker_core import ConfigurationError, VokerError
        from voker_core.config import Settings

        settings = get_settings()
        if not settings.agents:
            self.stdout.write("settings.VOKER['AGENTS'] is empty: nothing to register.")
            return
        resolved = Settings.resolve(api_key=settings.api_key, base_url=settings.base_url)
        try:
            results = register_agents(
                settings.agents, api_key=resolved.api_key, base_url=resolved.base_url
            )
        except ConfigurationError as exc:
            raise CommandError(f"{exc} (or set settings.VOKER['API_KEY'])") from exc
        except VokerError as exc:
            raise CommandError(f"could not reach Voker at {resolved.base_url}: {exc}") from exc
        failed = 0
        for result in results:
            if not result.ok:
                failed += 1
                self.stderr.write(self.style.ERROR(f"{result.agent}: FAILED — {result.error}"))
                continue
            versions = ", ".join(f"{name} (#{number})" for name, number in result.versions.items())
            line = f"{result.agent}: agent #{result.agent_number}"
            self.stdout.write(line + (f", versions {versions}" if versions else ""))
        if failed:
            raise CommandError(f"{failed} of {len(results)} agent(s) could not be registered")
        self.stdout.write(
            self.style.SUCCESS(
                f"Registered {len(results)} agent(s) with Voker at {resolved.base_url}."
            )
        )
