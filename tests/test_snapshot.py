"""The caller-thread copy taken by VokerClient and the llm recorder."""

from __future__ import annotations

import enum
from typing import Any

import pydantic
from hypothesis import given
from hypothesis import strategies as st

from voker_core._snapshot import Frozen, freeze, snapshot, thaw

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=30,
)


@given(json_values)
def test_copy_is_equal_and_shares_no_container(value: Any) -> None:
    copied = snapshot(value)
    assert copied == value

    def containers(node: Any) -> list[int]:
        if isinstance(node, dict):
            return [id(node), *[i for v in node.values() for i in containers(v)]]
        if isinstance(node, list):
            return [id(node), *[i for v in node for i in containers(v)]]
        return []

    assert not set(containers(copied)) & set(containers(value))


def test_later_mutation_does_not_reach_the_copy() -> None:
    messages = [{"role": "user", "content": "hi"}]
    kwargs = {"model": "m", "messages": messages}
    copied = snapshot(kwargs)
    messages.append({"role": "assistant", "content": "hello"})
    messages[0]["content"] = "changed"
    assert copied == {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


def test_cycles_and_shared_containers_keep_their_shape() -> None:
    shared = {"k": 1}
    loop: dict[str, Any] = {"a": shared, "b": shared}
    loop["self"] = loop
    copied = snapshot(loop)
    assert copied["self"] is copied
    assert copied["a"] is copied["b"] is not shared


def test_tuples_stay_tuples_and_sets_become_lists() -> None:
    copied = snapshot({"t": (1, [2]), "s": {3}})
    assert copied["t"] == (1, [2]) and isinstance(copied["t"], tuple)
    assert copied["s"] == [3]


@given(json_values)
def test_freeze_then_thaw_gives_an_equal_value_each_time(value: Any) -> None:
    frozen = freeze(value)
    assert thaw(frozen) == value
    assert thaw(frozen) == thaw(frozen)


def test_a_frozen_request_does_not_see_later_changes() -> None:
    messages = [{"role": "user", "content": "hi", "parts": [{"type": "text"}]}]
    kwargs = {"model": "m", "messages": messages, "stop": ("a", "b"), "n": 1}
    frozen = freeze(kwargs)
    assert isinstance(frozen, Frozen)  # plain data: marshalled
    messages.append({"role": "assistant", "content": "hello"})
    messages[0]["content"] = "changed"
    messages[0]["parts"].clear()
    assert thaw(frozen) == {
        "model": "m",
        "messages": [{"role": "user", "content": "hi", "parts": [{"type": "text"}]}],
        "stop": ("a", "b"),
        "n": 1,
    }


class _Colour(str, enum.Enum):
    RED = "red"


class _Message(pydantic.BaseModel):
    role: str
    content: str


def test_what_marshal_refuses_is_copied_by_snapshot() -> None:
    """Objects marshal does not take (models, enums, str subclasses) make the whole value
    fall back to the structural copy: containers copied, objects kept."""
    model = _Message(role="user", content="hi")
    messages: list[Any] = [model, {"role": "user", "colour": _Colour.RED}]
    frozen = freeze({"messages": messages})
    assert not isinstance(frozen, Frozen)
    messages.append("later")
    thawed = thaw(frozen)
    assert thawed == {"messages": [model, {"role": "user", "colour": _Colour.RED}]}
    assert thawed["messages"][0] is model


def test_atoms_are_kept_and_cycles_survive() -> None:
    assert freeze("text") == "text" and freeze(None) is None and freeze(3) == 3
    looped: list[Any] = [1]
    looped.append(looped)
    thawed = thaw(freeze(looped))
    assert thawed[0] == 1 and thawed[1] is thawed
