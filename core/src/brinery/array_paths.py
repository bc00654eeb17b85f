"""Where each array sits in the object: ``["model"].coef_``, for ``brinery info``.

A pickle builds from the leaves up: an array is made, then put into a list, that list into
a dict, the dict becomes an object's state, and so on up to the object the pickle returns.
:class:`ArrayPaths` follows that as :class:`~brinery.scan.Scanner` reads: each time something
that holds an array is put somewhere for the first time, it records one link, child to parent,
with the step between them (``["key"]``, ``[3]``, ``.attr``).  At the end each array's path
is read back up its links to the object the pickle returns.  Out-of-band buffers (another
library's protocol 5 ``PickleBuffer``: pyarrow's) are followed the same way.

The file decides what is linked, so the work is bounded: only what holds an array is linked
(a container becomes "holding" when a holding child is linked into it), each child once (the
first place it is put, as the pickler writes it), nothing more than :data:`MAX_PATH_STEPS`
links above its first array, :data:`MAX_LINKS` links in all; a path is read at most
:data:`MAX_PATH_STEPS` links and :data:`MAX_PATH_CHARS` characters up.  Keys are shown only
when they are short plain data; anything else is named by its kind (``[<bytes key>]``), never
by a ``repr()`` of the file's data, so paths are printable ASCII.  A path that does not reach
the object (the array is in a set, or past a bound) starts with ``...``.
"""

from __future__ import annotations

import json
from typing import Any

#: Links followed from an array up to the object; a longer path starts with "...".
MAX_PATH_STEPS = 32
#: Characters of a path; past them it starts with "...".
MAX_PATH_CHARS = 256
#: Links kept in all (a hostile file could otherwise make one per opcode).
MAX_LINKS = 1 << 20
#: A key longer than this (a str's characters, an int's digits) is named by its kind.
KEY_CHARS = 48
#: Items of a tuple key shown; a longer tuple is named by its kind.
KEY_ITEMS = 4

UNKNOWN = "..."


#: A link: the child (kept alive: its id is the key), its parent, the step between them, and
#: the attribute name the step is when the parent is an object's state (else None).
_Link = tuple[Any, Any, str, "str | None"]


class ArrayPaths:
    """The links between what holds arrays, as a pickle puts things into one another.

    The scanner hands over its own symbols (its dicts, lists, objects, tuples, arrays); they are
    compared by identity only, and kept alive here while linked so that identities stay theirs.
    """

    def __init__(self) -> None:
        self._arrays: list[tuple[int, Any]] = []  # (index in the scanner's list, its symbol)
        self._buffers: list[tuple[int, Any]] = []  # the same for out-of-band buffers
        self._depths: dict[int, int] = {}  # id of what holds arrays -> links down to one
        self._links: dict[int, _Link] = {}  # id of a child -> its link to its parent
        self._states: dict[int, Any] = {}  # id of a dict that is an object's state -> it
        self._detached: list[_Link] = []  # links undone: their parents' ids stay theirs
        self._children: dict[int, list[Any]] = {}  # id of a parent -> what was linked to it

    def array(self, symbol: Any, index: int) -> None:
        """``symbol`` is the array the scanner listed at ``index``."""
        self._arrays.append((index, symbol))
        self._depths[id(symbol)] = 0

    def buffer(self, symbol: Any, index: int) -> None:
        """``symbol`` is the out-of-band buffer (``NEXT_BUFFER``) the scanner listed at
        ``index``: a protocol 5 ``PickleBuffer`` of another library's object (pyarrow's), which
        is linked up to the object as an array is."""
        self._buffers.append((index, symbol))
        self._depths[id(symbol)] = 0

    def item(self, child: Any, parent: Any, key: Any) -> None:
        """``parent[key] = child`` (a dict's item, or ``__setitem__`` of an object)."""
        if id(child) in self._depths:  # (the key is only rendered for what holds arrays)
            attribute = key if type(key) is str and _is_attribute(key) else None
            self._link(child, parent, f"[{key_text(key)}]", attribute)

    def items(self, children: list[Any], parent: Any, first: int) -> None:
        """``children`` are a list's or tuple's items from position ``first`` on."""
        depths = self._depths  # (a list of a million numbers passes here: one lookup each)
        for position, child in enumerate(children, first):
            if id(child) in depths:
                self._link(child, parent, f"[{position}]", None)

    def step(self, child: Any, parent: Any, step: str) -> None:
        """``child`` is part of ``parent`` as ``step`` says (``""``: it stands for it)."""
        if id(child) in self._depths:
            self._link(child, parent, step, None)

    def attributes(self, state: Any, target: Any, within: Any = None) -> None:
        """``state`` is a dict whose items are ``target``'s attributes (its ``BUILD`` state,
        or one of the pair ``within`` that is its state)."""
        self._unlink(state, within)
        if id(state) in self._depths and self._link(state, target, "", None):
            self._states[id(state)] = state

    def move(self, child: Any, before: Any, after: Any, step: str) -> None:
        """``child``, linked to ``before``, is now linked to ``after`` (a call's argument that
        the call's result stands for: an array that a subclass view wraps)."""
        self._unlink(child, before)
        self.step(child, after, step)

    def release(self, parent: Any) -> list[Any]:
        """Undo the links to ``parent`` (the one-item list wrapping a part of an indexed
        stream: what it carries is linked anew where the container puts it); return what was
        linked to it."""
        children = self._children.pop(id(parent), [])
        for child in children:
            self._unlink(child, parent)
        return children

    def _unlink(self, child: Any, parent: Any) -> None:
        link = self._links.get(id(child))
        if link is not None and link[1] is parent:
            self._detached.append(self._links.pop(id(child)))

    def paths(self, root: Any) -> list[tuple[int, str]]:
        """Each array's index and its path in ``root``, the object the pickle returns."""
        return [(index, self._path(symbol, root)) for index, symbol in self._arrays]

    def buffer_paths(self, root: Any) -> list[tuple[int, str]]:
        """Each out-of-band buffer's index and its path in ``root``."""
        return [(index, self._path(symbol, root)) for index, symbol in self._buffers]

    def _link(self, child: Any, parent: Any, step: str, attribute: str | None) -> bool:
        depth = self._depths[id(child)]
        if id(child) in self._links or child is parent:
            return False  # put somewhere already: the first place is its place
        if depth >= MAX_PATH_STEPS or len(self._links) >= MAX_LINKS:
            return False
        self._links[id(child)] = (child, parent, step, attribute)
        self._depths.setdefault(id(parent), depth + 1)
        self._children.setdefault(id(parent), []).append(child)
        return True

    def _path(self, symbol: Any, root: Any) -> str:
        steps: list[str] = []
        size = 0
        node = symbol
        while node is not root and len(steps) < MAX_PATH_STEPS:
            link = self._links.get(id(node))
            if link is None:
                break
            _, parent, step, attribute = link
            if attribute is not None and id(parent) in self._states:
                step = f".{attribute}"
            size += len(step)
            if size > MAX_PATH_CHARS:
                break
            steps.append(step)
            node = parent
        path = "".join(reversed(steps))
        return path if node is root else UNKNOWN + path


def _is_attribute(name: str) -> bool:
    return len(name) <= KEY_CHARS and name.isascii() and name.isidentifier()


def key_text(key: Any) -> str:
    """A key as shown in a path: short plain data as Python writes it (strings in double
    quotes, escaped to ASCII), anything else by its kind."""
    if type(key) is str:
        if len(key) > KEY_CHARS:
            return f"<str key of {len(key)} characters>"
        if key.isascii() and key.isprintable() and '"' not in key and "\\" not in key:
            return f'"{key}"'  # (what json.dumps writes, faster: most keys are names)
        return json.dumps(key)
    if type(key) is int:
        return str(key) if -(10**KEY_CHARS) < key < 10**KEY_CHARS else "<int key>"
    if key is None or type(key) is bool:
        return repr(key)
    if type(key) is tuple and 0 < len(key) <= KEY_ITEMS:
        items = [key_text(item) for item in key if type(item) is not tuple]
        if len(items) == len(key) and not any(item.startswith("<") for item in items):
            return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"
    return f"<{_kind(key)} key>"


def _kind(key: Any) -> str:
    kind = getattr(type(key), "key_kind", None)  # the scanner's symbols say what they stand for
    if isinstance(kind, str):
        return kind
    if type(key) in (bytes, float, complex, tuple):
        return type(key).__name__
    return "object"
