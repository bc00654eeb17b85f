"""The lzop file format, written and read around python-lzo's whole-buffer LZO1X functions.

python-lzo compresses whole buffers only, so this module supplies the container the ``lzop``
tool uses: a header (magic, versions, method, level, flags, mode, mtime, name, header checksum),
then blocks of at most 256 KiB of uncompressed data, each ``uncompressed length, compressed
length, CRC-32 of the uncompressed data, [CRC-32 of the compressed data,] data`` (big-endian;
stored as is when LZO does not make it smaller), then a zero length as the end marker.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable

import lzo

MAGIC = b"\x89LZO\x00\r\n\x1a\n"
BLOCK_SIZE = 256 * 1024
#: lzop refuses larger blocks; so does this reader (it bounds what a corrupt length allocates).
MAX_BLOCK_SIZE = 64 * 1024 * 1024
#: LZO1X makes at most about 255 bytes of one byte (a match length's zero bytes add 255 each):
#: a block declaring more than this many bytes per compressed byte, plus :data:`EXPANSION_SLACK`,
#: is damaged, refused before its output is allocated (which the declared size decides).
MAX_EXPANSION = 256
EXPANSION_SLACK = 256

LZOP_VERSION = 0x1030  # the lzop release whose format this writes (1.03)
VERSION_NEEDED_TO_EXTRACT = 0x0940
METHOD_LZO1X_1 = 1
METHOD_LZO1X_1_15 = 2
METHOD_LZO1X_999 = 3

F_ADLER32_D = 0x00000001
F_ADLER32_C = 0x00000002
F_H_EXTRA_FIELD = 0x00000040
F_CRC32_D = 0x00000100
F_CRC32_C = 0x00000200
F_MULTIPART = 0x00000400
F_H_FILTER = 0x00000800
F_H_CRC32 = 0x00001000
F_OS_UNIX = 0x03000000
WRITTEN_FLAGS = F_CRC32_D | F_CRC32_C | F_OS_UNIX
REGULAR_FILE_MODE = 0o100644

_U32 = struct.Struct(">I")
_BLOCK_LENGTHS = struct.Struct(">II")


class LzopError(ValueError):
    """The lzop data is damaged or uses a feature this reader does not support."""


def file_header(level: int) -> bytes:
    """The lzop header for data compressed at ``level`` (1: LZO1X-1, 2-9: LZO1X-999)."""
    method = METHOD_LZO1X_1 if level == 1 else METHOD_LZO1X_999
    body = struct.pack(
        ">HHHBBIIIIB",
        LZOP_VERSION,
        lzo.LZO_VERSION,
        VERSION_NEEDED_TO_EXTRACT,
        method,
        level,
        WRITTEN_FLAGS,
        REGULAR_FILE_MODE,
        0,  # mtime, low 32 bits: 0 keeps the output reproducible
        0,  # mtime, high 32 bits
        0,  # no file name
    )
    return MAGIC + body + _U32.pack(zlib.adler32(body))


END_MARKER = _U32.pack(0)


def compress_blocks(data: bytes | memoryview, level: int) -> bytes:
    """``data`` as lzop blocks of at most :data:`BLOCK_SIZE` uncompressed bytes."""
    view = memoryview(data).cast("B")
    parts = []
    for start in range(0, len(view), BLOCK_SIZE):
        block = view[start : start + BLOCK_SIZE]
        compressed = lzo.compress(block.tobytes(), level, False)
        stored = len(compressed) >= len(block)
        payload: bytes | memoryview = block if stored else compressed
        parts.append(_BLOCK_LENGTHS.pack(len(block), len(payload)))
        parts.append(_U32.pack(zlib.crc32(block)))
        if not stored:
            parts.append(_U32.pack(zlib.crc32(payload)))
        parts.append(bytes(payload))
    return b"".join(parts)


class LastBlockFinder:
    """Finds an indexed stream's last frame, the end record's, from the end of an lzop file.

    lzop has no place after its data that ``lzop -d`` passes over silently (it warns about any
    byte but zero after the end marker), so brinery writes no locator there: the end record is
    compressed as a frame of its own, one block, and that block is found from the file's end.
    The file ends ``dst_len, src_len, CRC-32 of the data, [CRC-32 of the compressed data,]
    src_len bytes, end marker``, with ``dst_len`` the end record's size, known to the reader:
    each ``src_len`` it may have places the block's start, and the one whose lengths and
    CRC-32 agree is it (a stored block, ``src_len == dst_len``, carries only the data's).
    Files whose blocks carry no CRC-32s (lzop's own default is Adler-32) are not found; they
    are read through.
    """

    def span(self, frame_bytes: int) -> int:
        return _BLOCK_LENGTHS.size + 8 + frame_bytes + len(END_MARKER)

    def find(self, tail: bytes, frame_bytes: int) -> int | None:
        if not tail.endswith(END_MARKER) or not 0 < frame_bytes <= BLOCK_SIZE:
            return None
        end = len(tail) - len(END_MARKER)
        for compressed in range(frame_bytes, 0, -1):
            stored = compressed == frame_bytes
            start = end - compressed - _BLOCK_LENGTHS.size - (4 if stored else 8)
            if start < 0:
                continue
            if _BLOCK_LENGTHS.unpack_from(tail, start) != (frame_bytes, compressed):
                continue
            (check,) = _U32.unpack_from(tail, end - compressed - 4)
            if zlib.crc32(tail[end - compressed : end]) == check:
                return start
        return None


class BlockCompressor:
    """Compresses what it is given into complete lzop blocks (no header: the stream has one)."""

    def __init__(self, level: int) -> None:
        self._level = level
        self._held = bytearray()

    def compress(self, data: bytes | memoryview, /) -> bytes:
        self._held += data
        whole = len(self._held) - len(self._held) % BLOCK_SIZE
        if not whole:
            return b""
        output = compress_blocks(memoryview(self._held)[:whole], self._level)
        del self._held[:whole]
        return output

    def flush(self) -> bytes:
        output = compress_blocks(self._held, self._level)
        self._held.clear()
        return output


class LzopDecompressor:
    """Reads one lzop file (header, blocks, end marker) with the interface the core reads with.

    A block is decoded only once the previous one's output has been handed out, so memory stays
    within one block whatever the input holds.
    """

    def __init__(self) -> None:
        self._input = bytearray()
        self._flags: int | None = None  # set once the header is read
        self._output = memoryview(b"")
        self._ended = False
        self._unused = b""

    @property
    def eof(self) -> bool:
        return self._ended and not self._output

    @property
    def unused_data(self) -> bytes:
        return self._unused

    @property
    def needs_input(self) -> bool:
        return not self._output and not self._ended

    def decompress(self, data: bytes, /, max_length: int = -1) -> bytes:
        self._input += data
        if not self._output:
            self._advance()
        if max_length < 0 or max_length >= len(self._output):
            output, self._output = bytes(self._output), memoryview(b"")
        else:
            output, self._output = bytes(self._output[:max_length]), self._output[max_length:]
        if not self._output:
            self._advance()
        return output

    def _advance(self) -> None:
        """Decode the header and then the next block, if the input holds them whole."""
        if self._ended:
            return
        if self._flags is None and not self._read_header():
            return
        self._read_block()

    def _read_header(self) -> bool:
        parsed = _parse_header(bytes(self._input[:MAX_HEADER_SIZE]))
        if parsed is None:
            return False
        self._flags, length = parsed
        del self._input[:length]
        return True

    def _read_block(self) -> None:
        flags = self._flags or 0
        if len(self._input) < 4:
            return
        (uncompressed,) = _U32.unpack_from(self._input)
        if uncompressed == 0:
            self._ended = True
            self._unused = bytes(self._input[4:])
            self._input.clear()
            return
        if len(self._input) < _BLOCK_LENGTHS.size:
            return
        _, compressed = _BLOCK_LENGTHS.unpack_from(self._input)
        if (
            uncompressed > MAX_BLOCK_SIZE
            or compressed > uncompressed
            or uncompressed > compressed * MAX_EXPANSION + EXPANSION_SLACK
        ):
            raise LzopError(
                f"an lzop block declares {compressed} compressed and {uncompressed} "
                "uncompressed bytes, which no valid block has"
            )
        stored = compressed == uncompressed
        data_check = _checker(flags, F_ADLER32_D, F_CRC32_D)
        payload_check = None if stored else _checker(flags, F_ADLER32_C, F_CRC32_C)
        position = _BLOCK_LENGTHS.size + 4 * (data_check is not None) + 4 * (
            payload_check is not None
        )
        if len(self._input) < position + compressed:
            return
        checks = memoryview(self._input)[_BLOCK_LENGTHS.size : position]
        payload = bytes(self._input[position : position + compressed])
        if payload_check is not None:
            _verify(payload_check, payload, checks[-4:], "compressed")
        block = payload if stored else _decompress_block(payload, uncompressed)
        if data_check is not None:
            _verify(data_check, block, checks[:4], "uncompressed")
        checks.release()
        del self._input[: position + compressed]
        self._output = memoryview(block)


MAX_HEADER_SIZE = 9 + 2 + 2 + 2 + 1 + 1 + 4 + 4 + 4 + 4 + 4 + 1 + 255 + 4


def _parse_header(data: bytes) -> tuple[int, int] | None:
    """``(flags, header length)``, or ``None`` while the header is incomplete."""
    if len(data) < len(MAGIC):
        return None
    if not data.startswith(MAGIC):
        raise LzopError("the data does not start with lzop's magic number")
    position = len(MAGIC)
    fields: dict[str, int] = {}

    def take(name: str, size: int) -> bool:
        nonlocal position
        if len(data) < position + size:
            return False
        fields[name] = int.from_bytes(data[position : position + size], "big")
        position += size
        return True

    if not (take("version", 2) and take("lib_version", 2)):
        return None
    modern = fields["version"] >= 0x0940
    if modern and not take("version_needed", 2):
        return None
    if not take("method", 1) or (modern and not take("level", 1)) or not take("flags", 4):
        return None
    flags = fields["flags"]
    if fields["method"] not in (METHOD_LZO1X_1, METHOD_LZO1X_1_15, METHOD_LZO1X_999):
        raise LzopError(f"lzop method {fields['method']} is not LZO1X, which this reader reads")
    if flags & (F_H_FILTER | F_MULTIPART):
        raise LzopError("lzop files with filters or several parts are not supported")
    if not take("mode", 4) or not take("mtime_low", 4):
        return None
    if modern and not take("mtime_high", 4):
        return None
    if not take("name_length", 1) or len(data) < position + fields["name_length"] + 4:
        return None
    position += fields["name_length"]
    header_check = zlib.crc32 if flags & F_H_CRC32 else zlib.adler32
    expected = header_check(data[len(MAGIC) : position])
    if _U32.unpack_from(data, position)[0] != expected:
        raise LzopError("the lzop header checksum does not match: the header is damaged")
    position += 4
    if flags & F_H_EXTRA_FIELD:
        raise LzopError("lzop files with an extra header field are not supported")
    return flags, position


def _checker(flags: int, adler: int, crc: int) -> Callable[[bytes], int] | None:
    if flags & crc:
        return zlib.crc32
    if flags & adler:
        return zlib.adler32
    return None


def _verify(check: Callable[[bytes], int], data: bytes, stored: memoryview, what: str) -> None:
    if check(data) != _U32.unpack(stored)[0]:
        raise LzopError(f"an lzop block's {what} data does not match its checksum")


def _decompress_block(payload: bytes, uncompressed: int) -> bytes:
    block: bytes = lzo.decompress(payload, False, uncompressed)
    if len(block) != uncompressed:
        raise LzopError(
            f"an lzop block decompressed to {len(block)} bytes instead of {uncompressed}"
        )
    return block
