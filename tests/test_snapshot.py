"""The caller-thread copy taken by VokerClient and the llm recorder."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from voker_core._snapshot import snapshot

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
