"""Reading a size the file declared, without allocating it before the data arrives."""

from __future__ import annotations

from collections.abc import Callable

#: What a read of a declared size allocates before it has read anything.
FIRST_READ = 1 << 20
#: The largest piece: pieces grow with what was read (doubling) up to this.
READ_PIECE_MAX = 1 << 24


def read_growing(
    fill: Callable[[memoryview], int], size: int, first: int = FIRST_READ
) -> bytearray:
    """Up to ``size`` bytes from ``fill`` (which fills a buffer as far as the data goes, less
    only at the end), read in pieces that grow with what was read: memory follows the data.
    ``first``: the first piece, larger when the caller knows the data is there."""
    pieces: list[bytearray] = []
    total = 0
    while total < size:
        wanted = min(size - total, max(first, min(total, READ_PIECE_MAX)))
        piece = bytearray(wanted)
        with memoryview(piece) as view:
            got = fill(view)
        del piece[got:]
        pieces.append(piece)
        total += got
        if got < wanted:
            break
    return pieces[0] if len(pieces) == 1 else bytearray().join(pieces)
