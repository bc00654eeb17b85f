"""The LZ4 frame format read and written in Python, its blocks decoded and made by ``lz4.block``.

python-lz4's frame API verifies the content checksum slowly: 32 brinery frames of 4 MiB
(nearly incompressible) took 0.08-0.19 s with ``decompress_chunk`` and 0.085 s streamed, 0.012 s
without a checksum, but 0.027 s with the frame read here, each block decoded by
``lz4.block.decompress`` (the GIL released) and the content hashed by ``xxhash`` (released too).
Streamed, the checksum costs as much as python-lz4's: xxhash's (and liblz4's) incremental XXH32
runs at a sixth of the one-call speed, and one call would need the whole frame's output held.
Reading the frame also lets each block be bounded before it is decoded: nothing is allocated by
a size the frame declares before it was checked (block sizes against the header's maximum, at
most 4 MiB; outputs against the recorded content size and the caller's room).

The format (lz4_Frame_format.md): magic 04 22 4D 18; FLG (version 01, B.Indep, B.Checksum,
C.Size, C.Checksum, reserved, DictID), BD (block maximum 4-7); optional 8-byte content size and
4-byte dictionary id; a header checksum; blocks (a 4-byte size, its high bit for a stored
block, optionally a block checksum) up to a zero EndMark; optionally the content checksum.
Skippable frames (magic 0x184D2A50-5F) are skipped, as liblz4 does (a damaged brinery hint is
one).  A dictionary id is refused: brinery never writes one and knows no dictionary.

Written here too (:func:`encode_frame`), for the same reason: ``lz4.frame.compress`` at the
fast levels made 1,000-1,270 MiB/s of brinery's streams (64 KiB linked blocks, the content
hashed incrementally), where independent 1 MiB blocks from ``lz4.block.compress`` and a
one-call XXH32 make 2,700 (pickled records) to 5,600 MiB/s (normal floats), 1.5x on images,
the sizes the same (within 0.1%).  Only at the fast levels: the high-compression levels spend
their time matching, at the same speed either way, and python-lz4's linked blocks came out
0.5% smaller on images there.

Strict where liblz4 is strict, no stricter: a block may make fewer bytes than the maximum (a
flushed block does, and liblz4 accepts it), but never more than the header's maximum or the
content size left, and the content must be its recorded size.  A recorded size of 0 means "not
recorded", as for liblz4, which writes none for empty content.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import lz4.block
import numpy as np
import xxhash

from brinery.codec_adapters import PiecewiseDecompressor

MAGIC = 0x184D2204
_SKIPPABLE_MASK, _SKIPPABLE = 0xFFFFFFF0, 0x184D2A50
#: The most output a linked block may refer back to (LZ4's window).
WINDOW = 64 << 10
_BLOCK_MAX = {4: 64 << 10, 5: 256 << 10, 6: 1 << 20, 7: 4 << 20}
_STORED = 0x80000000
#: What :func:`encode_frame` writes: blocks of at most 1 MiB (block maximum id 6), independent
#: (as fast as 4 MiB ones and as small, within 0.01%; a streamed frame is decoded a block at a
#: time, so its reader holds less).
WRITTEN_BLOCK_ID = 6
#: FLG: version 01, independent blocks, content checksum (content size added when not empty).
_WRITTEN_FLAGS = 0x40 | 0x20 | 0x04
_CONTENT_SIZE_FLAG = 0x08
#: A streamed frame recording a content size up to this gathers a copy of its output, as its
#: blocks are decoded, to hash it in one call at its end: xxhash's incremental XXH32 runs at a
#: sixth of its one-call speed (2.15 ms against 0.36 per 4 MiB, whatever the pieces), which made
#: object-heavy lz4 loads pay 0.13 s per 256 MiB for their checksums.  brinery's frames (4 MiB)
#: all qualify; the copy's buffer goes on to the next frame (:meth:`FrameDecompressor.next_frame`).
HELD_CONTENT_MAX = 4 << 20
#: Larger copies go through numpy, which releases the GIL while copying.
_GIL_FREE_COPY = 1 << 16
#: The fixed-size items of a frame, read whole: magic, FLG and BD (with the magic), sizes.
_ITEM_SIZES = {"magic": 4, "skippable size": 4, "descriptor": 6, "block size": 4, "checksum": 4}


class Lz4FrameError(ValueError):
    """The data is not a valid LZ4 frame (damaged, truncated, or of a kind brinery refuses)."""


class Header(NamedTuple):
    length: int  # bytes, magic to header checksum
    block_max: int
    linked: bool
    block_checksum: bool
    content_size: int | None
    content_checksum: bool


def _u32(data: Any, at: int = 0) -> int:
    return int.from_bytes(data[at : at + 4], "little")


def encode_frame(data: Any) -> tuple[bytes, ...]:
    """``data`` as one LZ4 frame made at the fast level (``lz4.frame``'s levels 0-2), in parts
    (joined, they would be copied once more): the header, each block's size and bytes, and the
    end mark with the content checksum.  The content size is recorded, unless it is 0 (as
    liblz4 does); a block that does not shrink is stored as it is."""
    with memoryview(data) as given, given.cast("B") as view:
        size = len(view)
        flags = _WRITTEN_FLAGS | (_CONTENT_SIZE_FLAG if size else 0)
        descriptor = bytes((flags, WRITTEN_BLOCK_ID << 4))
        if size:
            descriptor += size.to_bytes(8, "little")
        header_checksum = (xxhash.xxh32_intdigest(descriptor) >> 8) & 0xFF
        parts = [MAGIC.to_bytes(4, "little") + descriptor + bytes((header_checksum,))]
        block_max = _BLOCK_MAX[WRITTEN_BLOCK_ID]
        for start in range(0, size, block_max):
            with view[start : start + block_max] as piece:
                block = lz4.block.compress(piece, store_size=False)
                if len(block) < len(piece):
                    parts += (len(block).to_bytes(4, "little"), block)
                else:
                    parts += ((len(piece) | _STORED).to_bytes(4, "little"), bytes(piece))
        parts.append(bytes(4) + xxhash.xxh32_intdigest(view).to_bytes(4, "little"))
    return tuple(parts)


def header_length(start: Any) -> int:
    """The header's length from its first 6 bytes (magic, FLG, BD), which it checks."""
    if len(start) < 6:
        raise Lz4FrameError(f"the LZ4 frame ends inside its header ({len(start)} bytes)")
    if _u32(start) != MAGIC:
        raise Lz4FrameError("the data does not start with an LZ4 frame's magic number")
    flg, bd = start[4], start[5]
    if flg >> 6 != 1:
        raise Lz4FrameError(f"the LZ4 frame has version {flg >> 6} (only 1 is known)")
    if flg & 0x02 or bd & 0x8F:
        raise Lz4FrameError("the LZ4 frame header has reserved bits set")
    if flg & 0x01:
        raise Lz4FrameError("the LZ4 frame names a dictionary (brinery writes none, knows none)")
    if (bd >> 4) & 7 not in _BLOCK_MAX:
        raise Lz4FrameError(f"the LZ4 frame has block maximum id {(bd >> 4) & 7} (not 4-7)")
    return 7 + (8 if flg & 0x08 else 0)


def parse_header(head: Any) -> Header:
    """The header ``head`` starts with (at least :func:`header_length` bytes), checked."""
    length = header_length(head)
    if len(head) < length:
        raise Lz4FrameError(f"the LZ4 frame ends inside its header ({len(head)} bytes)")
    if (xxhash.xxh32_intdigest(bytes(head[4 : length - 1])) >> 8) & 0xFF != head[length - 1]:
        raise Lz4FrameError("the LZ4 frame header checksum does not match")
    flg = head[4]
    size = int.from_bytes(head[6:14], "little") if flg & 0x08 else 0
    return Header(
        length=length,
        block_max=_BLOCK_MAX[(head[5] >> 4) & 7],
        linked=not flg & 0x20,
        block_checksum=bool(flg & 0x10),
        content_size=size or None,
        content_checksum=bool(flg & 0x04),
    )


def block_size(header: Header, word: int, number: int) -> tuple[int, bool]:
    """A block's stored size and whether it is stored uncompressed, from its size field."""
    size = word & ~_STORED
    if size > header.block_max:
        raise Lz4FrameError(
            f"LZ4 block {number} takes {size} bytes, more than the frame's blocks may "
            f"({header.block_max})"
        )
    return size, bool(word & _STORED)


def decode_block(
    header: Header, stored: Any, uncompressed: bool, bound: int, window: Any, number: int
) -> bytes | Any:
    """Block ``number`` (its stored bytes and block checksum), decoded to at most ``bound``
    bytes; a stored block comes back as it is given."""
    size = len(stored) - 4 * header.block_checksum
    if header.block_checksum and xxhash.xxh32_intdigest(stored[:size]) != _u32(stored, size):
        raise Lz4FrameError(f"LZ4 block {number}: its block checksum does not match")
    if (uncompressed and size > bound) or not bound:
        raise Lz4FrameError(f"LZ4 block {number} holds more than the frame's content size")
    if uncompressed:
        return stored[:size]
    try:
        return lz4.block.decompress(stored[:size], uncompressed_size=bound, dict=window)
    except lz4.block.LZ4BlockError:
        raise Lz4FrameError(
            f"LZ4 block {number} is damaged or makes more than {bound} bytes"
        ) from None


def _copy(target: Any, data: Any) -> None:
    if len(data) > _GIL_FREE_COPY:
        np.frombuffer(target, np.uint8)[:] = np.frombuffer(data, np.uint8)
    else:
        target[:] = data


def decompress_frame(frame: memoryview, size: int) -> memoryview:
    """``frame``, one whole frame recording ``size`` bytes of content, decoded in one call into
    one buffer: each block's output copied into its place, a linked block's window read there."""
    header = parse_header(frame[:19])
    if header.content_size != size:
        raise Lz4FrameError(f"the LZ4 frame does not record {size} bytes of content")
    output = memoryview(np.empty(size, np.uint8)).cast("B")
    position, produced, number = header.length, 0, 0
    while True:
        if position + 4 > len(frame):
            raise Lz4FrameError(f"the LZ4 frame ends before its end ({len(frame)} bytes)")
        word = _u32(frame, position)
        position += 4
        if not word:
            break
        number += 1
        stored, uncompressed = block_size(header, word, number)
        end = position + stored + 4 * header.block_checksum
        if end > len(frame):
            raise Lz4FrameError(f"the LZ4 frame ends inside block {number}")
        linked = header.linked and produced
        window = output[max(0, produced - WINDOW) : produced] if linked else None
        data = decode_block(
            header, frame[position:end], uncompressed, size - produced, window, number
        )
        _copy(output[produced : produced + len(data)], data)
        produced += len(data)
        position = end
    if produced != size:
        raise Lz4FrameError(f"the LZ4 frame holds {produced} bytes, not its content size {size}")
    if header.content_checksum:
        if position + 4 > len(frame):
            raise Lz4FrameError("the LZ4 frame ends inside its content checksum")
        if xxhash.xxh32_intdigest(output) != _u32(frame, position):
            raise Lz4FrameError("the LZ4 frame content checksum does not match")
        position += 4
    if position != len(frame):
        raise Lz4FrameError(f"{len(frame) - position} bytes follow the LZ4 frame")
    return output


class FrameDecompressor(PiecewiseDecompressor):
    """One LZ4 frame (or skippable frame) streamed, with the ``bz2.BZ2Decompressor`` interface
    the core reads with.  A block is decoded once all of it arrived, and only while the caller
    wants more: memory stays within one block (4 MiB at most) beyond ``max_length``."""

    def __init__(self, scratch: bytearray | None = None) -> None:
        super().__init__()
        self._pending = bytearray()  # the part of the next item (header, block) taken so far
        self._stage = "magic"
        self._header: Header | None = None
        self._skip = 0  # bytes of a skippable frame not yet skipped
        self._blocks = 0
        self._stored = 0  # the current block's stored size
        self._uncompressed = False  # whether it is stored uncompressed
        self._produced = 0
        self._hash = xxhash.xxh32()  # of the output made (a frame whose output is not gathered)
        # Whether this frame's output is gathered, up to _produced, to be hashed at its end; the
        # buffer it is gathered in (maybe handed on from the frame before).
        self._gathering = False
        self._gathered = scratch
        self._checksum: int | None = None  # the content checksum read, to be checked
        self._window = b""  # the last WINDOW bytes of output (linked blocks)

    def _ended(self) -> bool:
        return self._stage == "end"

    def _piece(self, room: int) -> bytes | None:
        return self._step()

    def _made(self, new: memoryview) -> None:
        header = self._header
        gathered = self._gathering
        if not gathered and header is not None and header.content_checksum and len(new):
            # Hashed here, in one piece: xxhash releases the GIL for large ones only.
            self._hash.update(new)
        if self._checksum is None:
            return
        if gathered and self._gathered is not None:
            with memoryview(self._gathered)[: self._produced] as content:
                digest = xxhash.xxh32_intdigest(content)
        else:
            digest = self._hash.intdigest()
        if digest != self._checksum:
            raise Lz4FrameError("the LZ4 frame content checksum does not match")
        self._checksum = None

    def next_frame(self) -> FrameDecompressor:
        """The next frame's decompressor, once this one's frame ended, with the buffer this one
        gathered its output in (allocated once per load, not once per frame)."""
        if not self.eof:
            raise ValueError("the frame has not ended: its buffer is still in use")
        return FrameDecompressor(self._gathered)

    def _take(self, size: int) -> memoryview | None:
        """The next ``size`` bytes of input, once they all arrived."""
        if not self._pending and len(self._input) >= size:
            item, self._input = self._input[:size], self._input[size:]
            return item
        step = min(size - len(self._pending), len(self._input))
        self._pending += self._input[:step]
        self._input = self._input[step:]
        if len(self._pending) < size:
            return None
        item, self._pending = self._pending, bytearray()
        return memoryview(item)

    def _step(self) -> bytes | None:
        """Read the next item; its output (b"" if none), or None until more input comes."""
        stage, header = self._stage, self._header
        if stage == "skip":
            step = min(self._skip, len(self._input))
            self._skip -= step
            self._input = self._input[step:]
            if self._skip:
                return None
            self._stage = "end"
            return b""
        # magic (4), then a skippable frame's size (4), or the header: FLG and BD, then the
        # rest (the bytes taken so far are kept in _pending: the header is taken whole)
        if stage == "header":
            size = header_length(self._pending)
        elif stage == "block" and header is not None:
            size = self._stored + 4 * header.block_checksum
        else:
            size = _ITEM_SIZES[stage]
        item = self._take(size)
        if item is None:
            return None
        if stage == "magic" and _u32(item) & _SKIPPABLE_MASK == _SKIPPABLE:
            self._stage = "skippable size"
        elif stage in ("magic", "descriptor"):
            self._pending += item
            self._stage = "descriptor" if stage == "magic" else "header"
        elif stage == "skippable size":
            self._skip, self._stage = _u32(item), "skip"
        elif stage == "header":
            self._header, self._stage = parse_header(item), "block size"
            size = self._header.content_size
            self._gathering = bool(
                self._header.content_checksum and size is not None and size <= HELD_CONTENT_MAX
            )
        elif stage == "block size" and header is not None:
            self._block_size(header, _u32(item))
        elif stage == "block" and header is not None:
            self._stage = "block size"
            return self._block(header, item)
        else:  # (checked once the output before it is hashed)
            self._checksum, self._stage = _u32(item), "end"
        return b""

    def _block_size(self, header: Header, word: int) -> None:
        if word:
            self._blocks += 1
            self._stored, self._uncompressed = block_size(header, word, self._blocks)
            self._stage = "block"
            return
        size = header.content_size
        if size is not None and self._produced != size:
            raise Lz4FrameError(
                f"the LZ4 frame holds {self._produced} bytes, not its content size {size}"
            )
        self._stage = "checksum" if header.content_checksum else "end"

    def _block(self, header: Header, item: memoryview) -> bytes:
        bound = header.block_max
        if header.content_size is not None:
            bound = min(bound, header.content_size - self._produced)
        window = self._window if header.linked else None
        data = bytes(decode_block(header, item, self._uncompressed, bound, window, self._blocks))
        if self._gathering:
            self._gather(data, header)
        self._produced += len(data)
        if header.linked:
            if len(data) >= WINDOW:
                self._window = data[-WINDOW:]
            else:
                keep = max(0, len(self._window) + len(data) - WINDOW)
                self._window = self._window[keep:] + data
        return data

    def _gather(self, data: bytes, header: Header) -> None:
        """Copy a block's output after the frame's output so far (in a buffer of the frame's
        recorded size, at most :data:`HELD_CONTENT_MAX`, made once a block's output is in)."""
        size = header.content_size or 0
        if self._gathered is None or len(self._gathered) < size:
            self._gathered = bytearray(size)
        with memoryview(self._gathered)[self._produced : self._produced + len(data)] as target:
            _copy(target, data)
