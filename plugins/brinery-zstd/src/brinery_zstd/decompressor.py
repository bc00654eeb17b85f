"""Streaming decompression of one zstd frame, each call's output bounded whatever the input.

python-zstandard's ``decompressobj().decompress(data)`` returns everything ``data`` expands to,
and zstd expands a lot: an RLE block is a 3-byte header and 1 byte that make up to 128 KiB, so
128 KB of them make 4 GiB in one call.  :class:`FrameDecompressor` therefore reads the frame's
structure as it passes (RFC 8878, section 3.1.1: a frame header, then blocks, each a 3-byte
header with its type and size, then an optional 4-byte checksum) and feeds the decompressor up
to the block boundary where ``max_length`` is reached.  zstd produces a block's output once it
has the whole block (a raw block's as its bytes arrive), and a block never makes more than
128 KiB, so one call returns at most ``max_length`` bytes and holds at most one block more.
The input also stops at the frame's end, so what follows it is ``unused_data``, untouched.
"""

from __future__ import annotations

import zstandard

from brinery.codec_adapters import PiecewiseDecompressor

#: The most a block decompresses to (``Block_Maximum_Size``); zstd refuses a larger block.
BLOCK_MAX = 128 << 10

_MAGIC = b"\x28\xb5\x2f\xfd"
_SKIPPABLE_MAGIC_BASE = 0x184D2A50  # 0x184D2A50 to 0x184D2A5F, little-endian
_RAW, _RLE, _COMPRESSED = 0, 1, 2
_DICTIONARY_ID_BYTES = (0, 1, 2, 4)
_CONTENT_SIZE_BYTES = (0, 2, 4, 8)  # Frame_Content_Size_flag 0: 1 byte in a single segment


class _FrameWalker:
    """Follows a zstd frame's structure through its bytes, and tells how many of them can be fed
    to the decompressor for it to make at most a given output."""

    def __init__(self) -> None:
        self._head = bytearray()  # the header being read (a frame's, a block's, a size)
        self._wanted = 4  # how long that header is, as far as known
        # magic, frame header, block header, block, checksum; skippable size, skip; end
        self._state = "magic"
        self._left = 0  # bytes of the current block, checksum or skipped frame not yet fed
        self._block_type = _RAW
        self._block_output = 0  # what the current block makes
        self._last_block = False
        self._checksum = False

    @property
    def ended(self) -> bool:
        return self._state == "end"

    def take(self, data: memoryview, room: int) -> tuple[int, int]:
        """``(bytes, output)``: how many bytes of ``data`` to feed next, and the most output
        they make, which exceeds ``room`` only if ``room`` could not take a single block."""
        fed = output = 0
        while fed < len(data) and self._state != "end":
            if self._state in ("block", "checksum", "skip"):
                available = len(data) - fed
                if self._state != "block" or self._block_type == _RAW:
                    step = min(self._left, available)
                    if self._state == "block":  # a raw block's bytes come out as they go in
                        step = min(step, room - output)
                        if step <= 0:
                            break
                        output += step
                elif self._left > available:
                    step = available  # the block is not complete yet: no output
                elif output and output + self._block_output > room:
                    break
                else:
                    step = self._left
                    output += self._block_output
                fed += step
                self._left -= step
                if not self._left:
                    self._after(self._state)
            else:
                step = min(self._wanted - len(self._head), len(data) - fed)
                self._head += data[fed : fed + step]
                fed += step
                if len(self._head) == self._wanted:
                    self._read_head()
        return fed, output

    def _read_head(self) -> None:
        head, state = self._head, self._state
        if state == "magic" and head == _MAGIC:
            self._state, self._wanted = "frame header", 5
        elif state == "magic":
            if int.from_bytes(head, "little") & ~0xF != _SKIPPABLE_MAGIC_BASE:
                raise zstandard.ZstdError("the data does not start with a zstd frame's magic")
            self._state, self._wanted = "skippable size", 8
        elif state == "skippable size":
            self._state, self._left = "skip", int.from_bytes(head[4:], "little")
            if not self._left:
                self._after("skip")
        elif state == "frame header" and len(head) == 5:
            # Frame_Header_Descriptor: Frame_Content_Size_flag (bits 6-7), Single_Segment_flag
            # (5), Content_Checksum_flag (2), Dictionary_ID_flag (0-1); then Window_Descriptor
            # (not in a single segment), Dictionary_ID, Frame_Content_Size.
            descriptor = head[4]
            single_segment = bool(descriptor & 0x20)
            self._checksum = bool(descriptor & 0x04)
            content_size = _CONTENT_SIZE_BYTES[descriptor >> 6] or int(single_segment)
            dictionary_id = _DICTIONARY_ID_BYTES[descriptor & 3]
            self._wanted = 5 + (not single_segment) + dictionary_id + content_size
        elif state == "frame header":
            self._state, self._wanted = "block header", 3
            self._head = bytearray()
        else:
            self._read_block_header(int.from_bytes(head, "little"))

    def _read_block_header(self, value: int) -> None:
        """Last_Block (bit 0), Block_Type (bits 1-2), Block_Size (bits 3-23)."""
        self._last_block = bool(value & 1)
        self._block_type = (value >> 1) & 3
        size = value >> 3
        if self._block_type == _RLE:
            self._left, self._block_output = 1, size
        elif self._block_type == _RAW:
            self._left, self._block_output = size, size
        elif self._block_type == _COMPRESSED:
            self._left, self._block_output = size, BLOCK_MAX
        else:
            raise zstandard.ZstdError("a zstd block has the reserved block type")
        self._state = "block"
        if not self._left:
            self._after("block")

    def _after(self, state: str) -> None:
        """The current block, checksum or skipped frame was fed whole."""
        if state == "block" and not self._last_block:
            self._state, self._wanted = "block header", 3
            self._head = bytearray()
        elif state == "block" and self._checksum:
            self._state, self._left = "checksum", 4
        else:
            self._state = "end"


class FrameDecompressor(PiecewiseDecompressor):
    """One zstd frame (or skippable frame), with the ``bz2.BZ2Decompressor`` interface the core
    reads with: ``decompress(data, max_length)`` returns at most ``max_length`` bytes and keeps
    the input it did not use yet; memory stays within one block beyond ``max_length``."""

    def __init__(self, context: zstandard.ZstdDecompressor | None = None) -> None:
        super().__init__()
        self._context = zstandard.ZstdDecompressor() if context is None else context
        self._zstd = self._context.decompressobj()
        self._walker = _FrameWalker()

    @property
    def unused_data(self) -> bytes:
        if not self._zstd.eof:
            return b""
        return bytes(self._zstd.unused_data) + bytes(self._input)

    def next_frame(self) -> FrameDecompressor:
        """The next frame's decompressor, made once this one's frame ended, with its context:
        a context allocates a window buffer as large as the frame (4 MiB for brinery's) the
        first time it streams one, and keeps it for the next, where a new one would allocate
        it again for every frame (and leave the freed ones in the heap, between the objects
        being loaded).  Only ended frames hand their context on: two frames never share one."""
        if not self.eof:
            raise ValueError("the frame has not ended: its context is still in use")
        return FrameDecompressor(self._context)

    def _ended(self) -> bool:
        return bool(self._zstd.eof)

    def _piece(self, room: int) -> bytes | None:
        """Feed zstd the next whole blocks (header, checksum) that make at most about ``room``
        bytes: what it returns for them is all it makes."""
        size, _ = self._walker.take(self._input, room) if self._input else (0, 0)
        if not size:
            return None
        part: bytes = self._zstd.decompress(self._input[:size])
        self._input = self._input[size:]
        return part

    def _made(self, new: memoryview) -> None:
        if self._walker.ended != bool(self._zstd.eof):
            raise zstandard.ZstdError(
                "the zstd frame's blocks do not end where the decompressor ends the frame"
            )
