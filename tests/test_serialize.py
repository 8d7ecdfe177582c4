"""``voker_core.serialize.to_jsonable``: never raises, JSON in = JSON out, everything else converted."""

from __future__ import annotations

import base64
import collections
import collections.abc
import dataclasses
import datetime as dt
import decimal
import enum
import json
import math
import os
import pathlib
import shelve
import tempfile
import uuid
from typing import Any, NamedTuple

import pydantic
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voker_core.serialize import CYCLE_MARKER, DEPTH_MARKER, MAX_DEPTH, to_jsonable


def _encoded(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=40,
)


@given(json_values)
@settings(max_examples=300, deadline=None)
def test_json_input_comes_back_unchanged(value: Any) -> None:
    assert to_jsonable(value) == value


class _Weird:
    def __repr__(self) -> str:
        raise RuntimeError("no repr for you")


class _ReprOnly:
    def __repr__(self) -> str:
        return "<ReprOnly>"


class _Color(enum.Enum):
    RED = "red"
    BLUE = 2


@dataclasses.dataclass
class _Point:
    x: int
    y: Any = None


class _Pair(NamedTuple):
    left: int
    right: str


class _Model(pydantic.BaseModel):
    name: str
    when: dt.datetime
    tags: set[str] = set()


class NotGiven:  # named like the OpenAI/Anthropic sentinel; matched by class name
    def __bool__(self) -> bool:
        return False


class Omit:
    pass


class _ToDict:
    def to_dict(self) -> dict[str, Any]:
        return {"converted": True, "inner": _Point(1)}


class _BrokenDump:
    def model_dump(self, **kwargs: Any) -> Any:
        raise ValueError("cannot dump")

    def __repr__(self) -> str:
        return "<BrokenDump>"


anything = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text()
    | st.binary(max_size=20)
    | st.datetimes()
    | st.dates()
    | st.times()
    | st.timedeltas()
    | st.decimals()
    | st.uuids()
    | st.sampled_from([_Color.RED, _Color.BLUE])
    | st.sampled_from([NotGiven, Omit, _Weird, _ReprOnly]).map(lambda cls: cls())
    | st.builds(_Point, st.integers(), st.text())
    | st.builds(_Pair, st.integers(), st.text())
    | st.builds(lambda s: pathlib.PurePosixPath("/tmp") / s, st.text(min_size=1, max_size=5)),
    lambda children: (
        st.lists(children, max_size=4)
        | st.tuples(children, children)
        | st.frozensets(st.integers(), max_size=4)
        | st.dictionaries(
            st.text(max_size=5)
            | st.integers()
            | st.booleans()
            | st.none()
            | st.sampled_from([_Color.RED]),
            children,
            max_size=4,
        )
        | st.builds(_Point, children, children)
    ),
    max_leaves=30,
)


@given(anything, st.one_of(st.none(), st.integers(min_value=64, max_value=4096)))
@settings(max_examples=300, deadline=None)
def test_never_raises_and_output_is_strict_json(value: Any, max_bytes: int | None) -> None:
    result = to_jsonable(value, max_bytes=max_bytes)
    text = json.dumps(result, allow_nan=False)  # strict JSON: no NaN/Infinity either
    assert json.loads(text) == result
    if max_bytes is not None and isinstance(result, (dict, list)):
        assert _encoded(result) <= max_bytes


@given(
    st.dictionaries(st.text(max_size=8), st.text(max_size=3000), max_size=12),
    st.integers(200, 5000),
)
@settings(max_examples=150, deadline=None)
def test_size_cap_is_met_with_visible_markers(value: dict[str, str], max_bytes: int) -> None:
    result = to_jsonable(value, max_bytes=max_bytes)
    assert _encoded(result) <= max_bytes
    if _encoded(value) <= max_bytes:
        assert result == value
    else:
        assert "truncated" in json.dumps(result, ensure_ascii=False)


def test_common_types_convert_as_documented() -> None:
    when = dt.datetime(2024, 5, 1, 12, 30, tzinfo=dt.timezone.utc)
    value = {
        "datetime": when,
        "date": dt.date(2024, 5, 1),
        "time": dt.time(12, 30),
        "delta": dt.timedelta(seconds=90),
        "bytes": b"\x00\xff",
        "set": {3, 1, 2},
        "tuple": (1, "a"),
        "deque": collections.deque([1, 2]),
        "enum": _Color.RED,
        "uuid": uuid.UUID(int=5),
        "decimal": decimal.Decimal("1.10"),
        "path": pathlib.PurePosixPath("/a/b"),
        "dataclass": _Point(1, [2]),
        "namedtuple": _Pair(1, "r"),
        "model": _Model(name="m", when=when, tags={"t"}),
        "to_dict": _ToDict(),
        "broken_dump": _BrokenDump(),
        "repr": _ReprOnly(),
        "bad_repr": _Weird(),
        "inf": math.inf,
        "not_given": NotGiven(),
        "omit": Omit(),
        1: "int key",
        None: "none key",
        _Color.RED: "enum key",
    }
    assert to_jsonable(value) == {
        "datetime": "2024-05-01T12:30:00+00:00",
        "date": "2024-05-01",
        "time": "12:30:00",
        "delta": 90.0,
        "bytes": base64.b64encode(b"\x00\xff").decode(),
        "set": [1, 2, 3],
        "tuple": [1, "a"],
        "deque": [1, 2],
        "enum": "red",
        "uuid": str(uuid.UUID(int=5)),
        "decimal": "1.10",
        "path": "/a/b",
        "dataclass": {"x": 1, "y": [2]},
        "namedtuple": {"left": 1, "right": "r"},
        "model": {"name": "m", "when": "2024-05-01T12:30:00Z", "tags": ["t"]},
        "to_dict": {"converted": True, "inner": {"x": 1, "y": None}},
        "broken_dump": "<BrokenDump>",
        "repr": "<ReprOnly>",
        "bad_repr": "<unrepresentable _Weird>",
        "inf": "Infinity",
        "1": "int key",
        "null": "none key",
        "red": "enum key",
    }
    assert to_jsonable([NotGiven(), 1]) == [None, 1]


def test_real_provider_sentinels_are_left_out() -> None:
    openai = pytest.importorskip("openai")
    anthropic = pytest.importorskip("anthropic")
    value = {"model": "m", "a": openai.NOT_GIVEN, "b": anthropic.NOT_GIVEN}
    if hasattr(openai, "omit"):
        value["c"] = openai.omit
    assert to_jsonable(value) == {"model": "m"}


def test_real_provider_response_models_convert() -> None:
    from openai.types.chat import ChatCompletion

    completion = ChatCompletion.model_validate(
        {
            "id": "c1",
            "object": "chat.completion",
            "created": 1,
            "model": "gpt-x",
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "message": {"role": "assistant", "content": "hi"},
                }
            ],
        }
    )
    result = to_jsonable({"output": completion})
    assert result["output"]["choices"][0]["message"]["content"] == "hi"
    json.dumps(result)


def test_cycles_are_cut_with_a_marker() -> None:
    a: dict[str, Any] = {"name": "a"}
    a["self"] = a
    items: list[Any] = [1]
    items.append(items)
    point = _Point(1)
    point.y = point
    assert to_jsonable(a) == {"name": "a", "self": CYCLE_MARKER}
    assert to_jsonable(items) == [1, CYCLE_MARKER]
    assert to_jsonable(point) == {"x": 1, "y": CYCLE_MARKER}
    shared = {"k": 1}
    assert to_jsonable([shared, shared]) == [{"k": 1}, {"k": 1}]  # sharing is not a cycle


def test_deep_nesting_is_cut_with_a_marker() -> None:
    value: Any = "bottom"
    for _ in range(1000):
        value = [value]
    result = to_jsonable(value)
    depth = 0
    while isinstance(result, list):
        result = result[0]
        depth += 1
    assert depth == MAX_DEPTH and result == DEPTH_MARKER


def test_blobs_are_truncated_before_text() -> None:
    image = "data:image/jpeg;base64," + base64.b64encode(bytes(range(256)) * 400).decode()
    raw = base64.b64encode(bytes(range(255, -1, -1)) * 300).decode()
    text = "The quick brown fox. " * 200
    result = to_jsonable({"image": image, "raw": raw, "text": text}, max_bytes=8000)
    assert result["text"] == text  # text fits once the blobs are gone
    assert result["image"].startswith("data:image/jpeg;base64,")
    assert result["image"].endswith(f"…[truncated {len(image) - 55} chars]")
    assert result["raw"].endswith(f"…[truncated {len(raw) - 32} chars]")


def test_longest_strings_are_cut_first_and_containers_last() -> None:
    value = {"short": "keep me", "long": "x " * 50_000, "medium": "y " * 2000}
    result = to_jsonable(value, max_bytes=6000)
    assert result["short"] == "keep me"
    assert result["long"].startswith("x x x") and "…[truncated" in result["long"]
    assert _encoded(result) <= 6000
    many = {"items": list(range(100_000))}
    cut = to_jsonable(many, max_bytes=2000)
    assert _encoded(cut) <= 2000
    assert cut["items"][:3] == [0, 1, 2] and cut["items"][-1].startswith("…[truncated ")


def test_long_dict_keys_are_truncated_with_a_marker_and_stay_distinct() -> None:
    passage = "a retrieved passage used as a key " + "lorem ipsum " * 250
    value = {"scores": {passage + "A": 0.9, passage + "B": 0.5, "short": 0.1}}
    result = to_jsonable(value, max_bytes=2000)
    assert isinstance(result, dict) and _encoded(result) <= 2000
    scores = result["scores"]
    assert sorted(scores.values()) == [0.1, 0.5, 0.9]  # no entry lost to a key collision
    assert scores["short"] == 0.1
    long_keys = [key for key in scores if key != "short"]
    assert all(key.startswith("a retrieved passage used as a key lorem") for key in long_keys)
    assert all("…[truncated " in key for key in long_keys)


def test_properties_stay_a_dict_even_as_a_last_resort() -> None:
    # Nothing can be cut in place (no strings, only one-item containers): the dict keeps the
    # start of its JSON under a "…" key instead of becoming a string the API would reject.
    deep: list[Any] = []
    for _ in range(30):
        deep = [deep]
    result = to_jsonable({"a": deep}, max_bytes=50)
    assert isinstance(result, dict) and _encoded(result) <= 50
    assert result["…"].startswith('{"a": [[[') and "…[truncated " in result["…"]
    as_list = to_jsonable([deep], max_bytes=50)
    assert isinstance(as_list, list) and _encoded(as_list) <= 50
    assert to_jsonable({"a": deep}, max_bytes=5) == {}  # no room even for a marker


@given(
    st.dictionaries(
        st.text(max_size=3000),
        st.text(max_size=3000) | st.dictionaries(st.text(max_size=3000), st.integers(), max_size=3),
        min_size=1,
        max_size=6,
    ),
    st.integers(32, 5000),
)
@settings(max_examples=150, deadline=None)
def test_a_capped_dict_is_always_a_dict_within_the_cap(
    value: dict[str, Any], max_bytes: int
) -> None:
    result = to_jsonable(value, max_bytes=max_bytes)
    assert isinstance(result, dict)
    assert _encoded(result) <= max_bytes


# -- values that used to fail the whole conversion ----------------------------------------------

LONE = os.fsdecode(b"report-\xff.pdf")  # a filename with an undecodable byte: 'report-\udcff.pdf'


def test_lone_surrogates_become_replacement_characters() -> None:
    # Unpaired UTF-16 surrogates cannot be encoded as UTF-8: a server rejects the whole body.
    value = {
        "file": LONE,
        LONE: "as a key",
        "nested": [{"deep": "\ud83d"}, pathlib.PurePosixPath(LONE)],
        "pair": "\ud83d\ude00",  # a surrogate pair spelled as two code points: one emoji
        "ok": "naïve 😀",
    }
    result = to_jsonable(value)
    assert result == {
        "file": "report-\ufffd.pdf",
        "report-\ufffd.pdf": "as a key",
        "nested": [{"deep": "\ufffd"}, "report-\ufffd.pdf"],
        "pair": "😀",
        "ok": "naïve 😀",
    }
    json.dumps(result, ensure_ascii=False).encode("utf-8")  # no UnicodeEncodeError
    capped = to_jsonable({"file": LONE * 100}, max_bytes=200)
    assert "\ufffd" in capped["file"] and _encoded(capped) <= 200


def test_an_int_too_long_to_print_degrades_alone() -> None:
    # Python refuses int -> str beyond 4300 digits, so json.dumps cannot write it.
    huge = math.factorial(2000)  # 5736 digits
    result = to_jsonable({"user": "u1", "result": huge, "negative": -huge, huge: "key"})
    json.dumps(result)
    assert result["user"] == "u1"
    assert result["result"] == "3.31628e+5735…[integer of 5736 digits]"
    assert result["negative"] == "-3.31628e+5735…[integer of 5736 digits]"
    assert result["3.31628e+5735…[integer of 5736 digits]"] == "key"
    assert to_jsonable(10**4000) == 10**4000  # printable: sent as the number it is


def test_one_unconvertible_value_degrades_alone() -> None:
    class Exploding(collections.abc.Mapping[str, Any]):
        def __getitem__(self, key: str) -> Any:
            raise KeyError(key)

        def __iter__(self) -> Any:
            raise OSError("closed")

        def __len__(self) -> int:
            return 1

        def __repr__(self) -> str:
            return "<Exploding>"

    class Unlistable(list[int]):
        def __iter__(self) -> Any:
            raise RuntimeError("no")

        def __repr__(self) -> str:
            raise RuntimeError("no repr either")

    value = {"user": "u1", "cache": Exploding(), "items": [1, Unlistable(), 3]}
    assert to_jsonable(value) == {
        "user": "u1",
        "cache": "<Exploding>",
        "items": [1, "<unrepresentable Unlistable>", 3],
    }
    # The closed shelf of the audit: its items() raises.
    with tempfile.TemporaryDirectory() as folder:
        with shelve.open(os.path.join(folder, "cache")) as shelf:
            shelf["k"] = 1
        result = to_jsonable({"user": "u1", "plan": "pro", "result": shelf})
    assert (result["user"], result["plan"]) == ("u1", "pro")
    assert result["result"].startswith("<shelve.")


def test_text_in_other_scripts_is_cut_not_dropped() -> None:
    # The cap is in bytes and strings are cut in characters: three bytes a character must not
    # make the cut look impossible and the whole dict collapse to a marker.
    value = {"question": "日本語の質問です。" * 500, "user": "u1", "reply": "é" * 3000}
    result = to_jsonable(value, max_bytes=1000)
    assert _encoded(result) <= 1000
    assert result["user"] == "u1"
    assert (
        result["question"].startswith("日本語の質問です。") and "…[truncated " in result["question"]
    )
    assert result["reply"].startswith("éé") and "…[truncated " in result["reply"]
