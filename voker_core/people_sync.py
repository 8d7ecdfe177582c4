"""Tell Voker about the people a process sees: once when first seen, again when they change.

Web plug-ins resolve the current user on many requests; sending the person every time would
double the traffic of a chatty app. :class:`PeopleSync` remembers, per client, which people it
has already sent and a digest of the properties it last sent, so that::

    from voker_core.people_sync import people_sync_for

    sync = people_sync_for(client)            # one shared cache per VokerClient
    sync.sync("user-7", {"email": "a@b.c"})   # first time: people.create, then people.update
    sync.sync("user-7", {"email": "a@b.c"})   # unchanged: nothing is sent
    sync.sync("user-7", {"email": "x@b.c"})   # changed: people.update(...)
    sync.sync("user-7", None)                 # no properties known here: nothing is sent

The first time needs both calls: ``people.create`` of a person Voker already has is a no-op
that keeps the stored properties, and ``people.update`` of one it does not have is refused. A
process cannot know which case it is in (another worker process, an earlier run of this one,
or this cache before it forgot the person may have created it, with properties that have
changed since), so it sends the create (with the properties, for a new person) and then the
update, which the client delivers in that order. A person first seen without properties gets
the create alone.

The cache is bounded (least recently seen people are forgotten first), so a process serving
millions of users keeps constant memory; a forgotten person is simply sent again when next seen.

Everything here only enqueues on the :class:`~voker_core.client.VokerClient` (which never blocks
on the network and never raises for delivery problems), under one lock, so the create of a person
is always enqueued before its updates even when two threads see the same person at once.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import weakref
from collections import OrderedDict
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from voker_core.serialize import to_jsonable

if TYPE_CHECKING:
    from voker_core.client import VokerClient

__all__ = ["DEFAULT_MAX_PEOPLE", "PeopleSync", "people_sync_for"]

logger = logging.getLogger("voker.people")

DEFAULT_MAX_PEOPLE = 10_000

# Marks a person that was created without properties (distinct from every digest).
_NO_PROPERTIES = b""


def _digest(properties: Mapping[str, Any]) -> bytes:
    """A short, order-independent fingerprint of a person's properties."""
    text = json.dumps(to_jsonable(dict(properties)), sort_keys=True, separators=(",", ":"))
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()


class PeopleSync:
    """Sends each person once when first seen (``people.create``, then ``people.update`` when
    there are properties) and ``people.update`` when the properties change.

    Thread-safe. ``max_people`` bounds the number of people remembered.
    """

    def __init__(self, client: VokerClient, *, max_people: int = DEFAULT_MAX_PEOPLE) -> None:
        if isinstance(max_people, bool) or not isinstance(max_people, int) or max_people <= 0:
            raise ValueError(f"max_people must be a positive integer, got {max_people!r}")
        self._client = client
        self._max = max_people
        self._seen: OrderedDict[str, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._seen)

    def sync(self, person_id: str, properties: Mapping[str, Any] | None = None) -> None:
        """Make sure Voker knows ``person_id`` (with ``properties``, when given).

        Never raises for delivery problems (the client logs and drops them); a ``TypeError`` or
        ``ValueError`` from the client for a bad argument is logged here and swallowed too, so a
        web request is never broken by a strange user object.
        """
        try:
            current = None if properties is None else dict(properties)
            digest = _NO_PROPERTIES if current is None else _digest(current)
            with self._lock:
                known = self._seen.get(person_id)
                if known is None:
                    self._client.people.create(
                        person_id=person_id,
                        **({} if current is None else {"properties": current}),
                    )
                    if current:
                        # The person may exist already (the create is then a no-op) with the
                        # properties it had then: the update stores the current ones.
                        self._client.people.update(person_id=person_id, properties=current)
                elif current is not None and digest != known:
                    self._client.people.update(person_id=person_id, properties=current)
                else:
                    self._seen.move_to_end(person_id)
                    return
                self._seen[person_id] = digest
                self._seen.move_to_end(person_id)
                while len(self._seen) > self._max:
                    self._seen.popitem(last=False)
        except Exception:
            logger.warning("voker: could not record person %r (ignored)", person_id, exc_info=True)


_by_client: weakref.WeakKeyDictionary[VokerClient, PeopleSync] = weakref.WeakKeyDictionary()
_by_client_lock = threading.Lock()


def people_sync_for(client: VokerClient) -> PeopleSync:
    """The process-wide :class:`PeopleSync` of ``client`` (created on first use).

    Sharing one per client means two plug-ins (or two Flask apps) delivering through the same
    client create each person once between them.
    """
    with _by_client_lock:
        sync = _by_client.get(client)
        if sync is None:
            sync = _by_client[client] = PeopleSync(client)
        return sync
