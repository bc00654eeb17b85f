"""``PiecewiseDecompressor``: the core's decompressor interface over a reader of pieces.

A toy format stands in for a codec: a one-byte length ``n`` (0 ends the frame), then ``n``
bytes that decode to themselves repeated 1,000 times; each item is one piece.  Whatever the
input's pieces and the sizes asked, the output is the frame's, no call returns more than it
was asked, nothing is held beyond one piece, and what follows the frame is left.
"""

from __future__ import annotations

import pytest

from brinery.codec_adapters import PiecewiseDecompressor
from brinery.testing import decompress_in_pieces

REPEAT = 1000


class Repeats(PiecewiseDecompressor):
    def __init__(self) -> None:
        super().__init__()
        self.ended = False
        self.pending = bytearray()  # input taken, not yet a whole item
        self.seen: list[int] = []  # the sizes _made was shown

    def _ended(self) -> bool:
        return self.ended

    def _piece(self, room: int) -> bytes | None:
        data = bytes(self.pending) + bytes(self._input)
        need = 1 + data[0] if data else 1
        if len(data) < need:  # (not a whole item yet: all taken, kept here)
            self.pending, self._input = bytearray(data), memoryview(b"")
            return None
        self.pending, self._input = bytearray(), memoryview(data[need:])
        if need == 1:
            self.ended = True
            return b""
        return data[1:need] * REPEAT

    def _made(self, new: memoryview) -> None:
        self.seen.append(len(new))


ITEMS = [b"ab", b"", b"xyz", b"q"]
FRAME = b"".join(bytes([len(item)]) + item for item in ITEMS if item) + b"\x00"
DATA = b"".join(item * REPEAT for item in ITEMS)


@pytest.mark.parametrize("piece", [1, 2, 5, len(FRAME)])
@pytest.mark.parametrize("max_length", [1, 999, 2500, -1])
def test_any_input_pieces_and_sizes_give_the_frame(piece: int, max_length: int) -> None:
    decompressor = Repeats()
    streamed = decompress_in_pieces(decompressor, FRAME + b"after", piece, max_length)
    assert decompressor.eof
    assert streamed.output == DATA
    assert streamed.most <= (max_length if max_length > 0 else len(DATA))
    assert sum(decompressor.seen) == len(DATA)
    assert streamed.left == b"after"


def test_nothing_is_held_beyond_one_piece() -> None:
    decompressor = Repeats()
    assert decompressor.decompress(FRAME, 10) == b"ab" * 5
    assert decompressor._held() == 2 * REPEAT - 10  # (the first piece only: none made ahead)
    assert decompressor.decompress(b"", 2 * REPEAT - 9) == b"ab" * (REPEAT - 5) + b"x"
    assert decompressor._held() == 3 * REPEAT - 1


def test_what_follows_the_frame_is_left_untouched() -> None:
    decompressor = Repeats()
    assert decompressor.decompress(FRAME + b"next", -1) == DATA
    assert decompressor.eof
    assert decompressor.unused_data == b"next"
    assert not decompressor.needs_input


def test_before_the_end_nothing_is_unused_and_input_is_asked_for() -> None:
    decompressor = Repeats()
    assert decompressor.decompress(FRAME[:2], 10) == b""  # (half an item)
    assert decompressor.needs_input
    assert decompressor.decompress(FRAME[2:3], 10) == b"ab" * 5
    assert not decompressor.needs_input  # (output held)
    assert decompressor.unused_data == b""
    assert decompressor.decompress(b"", -1) == b"ab" * (REPEAT - 5)
    assert decompressor.needs_input
    assert not decompressor.eof


def test_the_first_immutable_input_is_kept_not_copied() -> None:
    decompressor = Repeats()
    data = bytes([3]) + b"xyz" + b"\x05ab"  # (asked for nothing: the input is held as given)
    decompressor.decompress(data, 0)
    assert decompressor._input.obj is data
    writable = bytearray(b"\x01z")
    fresh = Repeats()
    fresh.decompress(writable, 0)
    writable[1:2] = b"!"  # a caller's buffer may change: what was given must not
    assert fresh.decompress(b"", -1) == b"z" * REPEAT
