"""How ``dump`` cuts a value into the parts of an indexed stream (docs/format.md, section 5.5).

A top-level ``dict``, ``list`` or ``tuple`` (exactly those types) is pickled entry by entry,
each entry as a part of its own, then the container, whose pickle refers to the entries through
the pickler's memo (one pickler, its memo kept from part to part: an object two entries share
is pickled once).  ``brinery.open`` can then load one entry without the others.  Every part
pickles a fresh one-item list wrapping what it carries: the list is the part's first memoized
object, so one copy of the pickler's memo at the end gives each part's first memo index, which
a reader loading an entry alone needs (its memo starts there).
"""

from __future__ import annotations

import pickle
from typing import Any

from .format.index import DICT, LIST, NOT_SPLIT, TUPLE
from .format.writer import StreamWriter
from .pickler import BrineryPickler

#: Containers of more entries are one part: a part costs a pickle record and an index row of
#: its own, and a few microseconds to write and to read; past this, loading an entry alone
#: would save little next to what the parts cost a whole load.
MAX_SPLIT_ENTRIES = 4096


def parts_of(value: Any) -> tuple[int, list[Any]]:
    """What the container is (a :mod:`brinery.format.index` constant) and the parts' values,
    in order: for a dict its keys, then its values, then itself; for a list or tuple its
    items, then itself; anything else alone."""
    kind = type(value)
    if kind not in _CONTAINERS or len(value) > MAX_SPLIT_ENTRIES:
        return NOT_SPLIT, [value]
    entries = list(value.values()) if kind is dict else list(value)
    if any(type(entry) is pickle.PickleBuffer for entry in entries):
        return NOT_SPLIT, [value]  # (pickle never memoizes a buffer: the container would copy it)
    if kind is dict:
        return DICT, [list(value), *entries, value]
    return _CONTAINERS[kind], [*entries, value]


_CONTAINERS: dict[type, int] = {dict: DICT, list: LIST, tuple: TUPLE}


def dump_parts(pickler: BrineryPickler, stream: StreamWriter, value: Any) -> tuple[int, list[int]]:
    """Pickle ``value`` in parts into ``stream``; return the container kind and each part's
    first memo index."""
    container, values = parts_of(value)
    wrappers = []
    for part in values:
        wrapper = [part]
        wrappers.append(wrapper)
        stream.begin_part()
        pickler.dump(wrapper)
        stream.end_part()
    if container == NOT_SPLIT:
        return container, [0]  # (one part: its memo starts empty; copying it costs 0.2 s a
        # million objects, for nothing)
    memo = pickler.memo.copy()  # {id: (memo index, object)}: the wrappers are in it, alive
    return container, [memo[id(wrapper)][0] for wrapper in wrappers]
