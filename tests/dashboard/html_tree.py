"""A tiny HTML tree for assertions on the dashboard's pages (stdlib ``html.parser`` only).

Usage::

    doc = parse(response.text)
    rows = doc.find_all("tr", cls="has-err")
    rows[0].text()              # all text inside, whitespace collapsed
    doc.find("a", cls="id").attrs["href"]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser

_VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}
)


@dataclass
class Node:
    """An element: tag, attributes and children (nodes or text)."""

    tag: str
    attrs: dict[str, str] = field(default_factory=dict)
    children: list[Node | str] = field(default_factory=list)

    @property
    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())

    def text(self) -> str:
        """The text inside, entities decoded, elements apart, whitespace collapsed."""
        parts: list[str] = []
        self._collect(parts, " ")
        return " ".join("".join(parts).split())

    def raw_text(self) -> str:
        """The text inside exactly as written (whitespace kept)."""
        parts: list[str] = []
        self._collect(parts, "")
        return "".join(parts)

    def _collect(self, parts: list[str], gap: str) -> None:
        for child in self.children:
            if isinstance(child, str):
                parts.append(child)
            else:
                parts.append(gap)
                child._collect(parts, gap)
                parts.append(gap)

    def iter(self) -> list[Node]:
        """This node and every element below it, in document order."""
        found = [self]
        for child in self.children:
            if isinstance(child, Node):
                found.extend(child.iter())
        return found

    def find_all(self, tag: str | None = None, *, cls: str | None = None) -> list[Node]:
        """Elements below (and including) this one with ``tag`` and/or CSS class ``cls``."""
        return [
            node
            for node in self.iter()
            if (tag is None or node.tag == tag) and (cls is None or cls in node.classes)
        ]

    def find(self, tag: str | None = None, *, cls: str | None = None) -> Node:
        """The first match of :meth:`find_all`; AssertionError if there is none."""
        found = self.find_all(tag, cls=cls)
        assert found, f"no <{tag or '*'} class={cls!r}> in the page"
        return found[0]


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document")
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {name: value or "" for name, value in attrs})
        self.stack[-1].children.append(node)
        if tag not in _VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack[-1].children.append(Node(tag, {name: value or "" for name, value in attrs}))

    def handle_endtag(self, tag: str) -> None:
        for index in range(len(self.stack) - 1, 0, -1):
            if self.stack[index].tag == tag:
                del self.stack[index:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def parse(document: str) -> Node:
    """Parse an HTML document into a :class:`Node` tree."""
    builder = _Builder()
    builder.feed(document)
    builder.close()
    return builder.root


def conversation(document: str) -> list[tuple[str, str]]:
    """The conversation a session page shows, in order, as ``(kind, text)`` pairs.

    Kinds: ``user``, ``assistant``, ``reasoning`` (message bubbles), ``call``, ``result``
    (tool cards), ``error``. Raw JSON (inside ``<details>``) is not part of it.
    """
    found: list[tuple[str, str]] = []
    for node in parse(document).iter():
        classes = node.classes
        if "msg" in classes:
            kind = next(iter(classes & {"user", "assistant", "reasoning", "system"}), "?")
            found.append((kind, node.find(cls="bubble").raw_text()))
        elif "card" in classes:
            kind = "result" if "result" in classes else "call"
            found.append((kind, node.text()))
        elif "error" in classes and node.tag == "div":
            found.append(("error", node.text()))
    return found
