"""A Celery task queued from a Django view records its LLM call under the request's session and
person, in a real worker process (Redis broker)."""

from __future__ import annotations

from typing import Any

import pytest
from celery.result import AsyncResult

pytestmark = [pytest.mark.slow, pytest.mark.django_db]


def test_task_queued_from_a_view_carries_the_requests_session_and_person(
    client: Any,
    voker: Any,
    make_user: Any,
    celery_app: Any,
    start_worker: Any,
) -> None:
    worker = start_worker(pool="prefork", concurrency=1)
    user = make_user("grace")
    client.force_login(user)
    response = client.get(
        "/queue/", {"q": "summarise my ticket"}, headers={"X-Voker-Session": "ticket-7"}
    )
    assert response.status_code == 200
    result = AsyncResult(response.json()["task_id"], app=celery_app.app)
    assert "summarise my ticket" in result.get(timeout=60)
    worker.stop()
    [event] = voker.wait_for_events(1, event_name="llm")
    assert (event["session"], event["person"], event["agent"]) == (
        "ticket-7",
        str(user.pk),
        "support-bot",
    )
    assert "summarise my ticket" in str(event["properties"]["inputs"])
