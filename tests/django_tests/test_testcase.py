"""Django's own ``TestCase`` (one transaction per test, rolled back): what an async view records
is as in production.

An async test method runs its event loop in another thread while the test's thread waits,
holding the database connection and the test's transaction; Django's ``sync_to_async`` sends ORM
calls back to that thread. Something synchronous that needs the lazy person or session on the
loop (a custom event from an async view) must resolve them there too: a fresh thread's
connection neither sees the test's user nor can write a session while the test's transaction
holds the database.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.contrib.sessions.models import Session
from django.test import TestCase

from voker_django import session_id_for
from voker_django._sync import HANDOFF_TIMEOUT


class AsyncViewsInATestCase(TestCase):
    user: User

    @classmethod
    def setUpTestData(cls) -> None:
        # Written in the test class's transaction, as test data usually is.
        cls.user = User.objects.create_user("ada", password="correct horse")

    @pytest.fixture(autouse=True)
    def _voker(self, voker: Any, default_voker_client: Any) -> None:
        self.voker = voker
        self.voker_client = default_voker_client

    async def _feedback_event(self, path: str = "/afeedback/") -> dict[str, Any]:
        response = await self.async_client.get(path)
        assert response.status_code == 200
        await asyncio.to_thread(self.voker_client.flush, 5)
        [event] = await asyncio.to_thread(self.voker.wait_for_events, 1, event_name="feedback")
        return event  # type: ignore[no-any-return]

    async def test_custom_event_of_an_async_view_has_the_logged_in_person(self) -> None:
        await self.async_client.aforce_login(self.user)
        event = await self._feedback_event()
        assert event["person"] == str(self.user.pk)
        assert event["session"] == session_id_for(self.async_client.cookies["sessionid"].value)

    async def test_custom_event_of_an_async_view_creates_a_first_visitors_session(self) -> None:
        event = await self._feedback_event()
        cookie = self.async_client.cookies["sessionid"].value
        assert event["session"] == session_id_for(cookie)
        assert event["person"] is None
        # Created in the test's transaction (rolled back with it), not committed beside it.
        assert await Session.objects.filter(session_key=cookie).aexists()

    async def test_a_busy_connection_thread_delays_the_event_but_never_deadlocks(self) -> None:
        # The thread is waiting for the very loop the event is recorded on: the hand-off is
        # withdrawn after HANDOFF_TIMEOUT and the person resolved on a helper thread instead
        # (which cannot see the test's data: no person, but no hang either).
        await self.async_client.aforce_login(self.user)
        started = time.monotonic()
        event = await self._feedback_event("/afeedback-busy/")
        assert time.monotonic() - started < HANDOFF_TIMEOUT + 5
        assert event["session"] == session_id_for(self.async_client.cookies["sessionid"].value)
