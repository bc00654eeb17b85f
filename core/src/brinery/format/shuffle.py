"""The filters of array records (format 1.3): byte shuffle, bit shuffle and delta, by blocks.

The elements of a numeric array are alike in some of their bytes (a float's sign and exponent,
an integer's high bytes) and differ in others (the low mantissa bits, noise).  Stored element
after element, the alike bytes are interleaved with the noisy ones and a compressor finds few
repeats.  Byte shuffle regroups a block of elements by byte position (every element's byte 0,
then every element's byte 1...); bit shuffle goes further, by bit position.  The alike parts
then lie together and compress (blosc's trick; this is brinery's own numpy implementation of
the layout docs/format.md, section 5.4, defines).

Delta serves arrays of one-byte integers, which shuffling leaves as they are: images, masks.
Neighbouring pixels of a smooth image are close, so each byte is stored as its difference from
the previous one (modulo 256): a few small values, repeated, where the pixels themselves spread
over the whole range (zstd-3 on LFW-like faces: 0.64x the size).  A record has at most one
filter; :mod:`brinery.filter_choice` chooses it for each array in a dump.

A record's payload is cut into blocks of at most :data:`BLOCK_BYTES` (a whole number of
elements, a multiple of 8 of them; delta's elements are bytes) counted from its start, and each
block is filtered on its own (a delta block's first byte is stored as it is): a writer or
reader holds one block at a time beside the array, and each compression thread filters its own
frames (frames of filtered records are cut at block boundaries).

Throughput (numpy, one core, 256 MB of float64, element sizes 2 to 16): byte shuffle 3.6-3.9
GB/s, unshuffle in place 3-3.5 GB/s; bit shuffle (an 8x8 bit matrix transposed inside each
64-bit word, in three shift-and-mask steps) 1.2-1.3 GB/s, unshuffle about 1 GB/s.  zstd-3
compresses 0.5-0.7 GB/s per core: byte shuffle costs it little, bit shuffle about doubles the
work of each compression thread (and of the loading thread).  Delta (256 MB of uint8 faces):
9.6 GB/s in one call, 18 GB/s frame by frame (a subtraction, in 64 KiB tiles), so it costs the
compression threads nothing; undone in place 2.1 GB/s (a running sum as ``int8``, which wraps
as ``uint8`` does and which numpy accumulates four times faster than ``uint8``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple

import numpy as np

from .layout import BIT_SHUFFLED_RECORD_FLAG, BYTE_SHUFFLED_RECORD_FLAG, DELTA_RECORD_FLAG

#: The most bytes a block holds (a whole number of elements, a multiple of 8 of them).  As large
#: as a compression frame (4 MiB): zstd finds more repeats in longer runs of alike bytes (256 MB
#: of normal float64 at zstd-3: 225.69 MiB with 1 MiB blocks, 225.56 with 4 MiB; blosc2 zstd-3
#: with its shuffle: 225.70), and a frame then holds whole blocks.
BLOCK_BYTES = 4 << 20
#: The element sizes a shuffled record may declare: enough for every numpy number (complex256
#: is 32 bytes) and more, and each a block of at least 1024 elements.  A delta record's is 1.
MIN_ELEMENT_SIZE = 2
MAX_ELEMENT_SIZE = 4096
DELTA_ELEMENT_SIZE = 1
#: Each filter's name (as ``dump(shuffle=)`` and ``brinery info`` say it) and record flag.
_FLAGS = {
    "byte": BYTE_SHUFFLED_RECORD_FLAG,
    "bit": BIT_SHUFFLED_RECORD_FLAG,
    "delta": DELTA_RECORD_FLAG,
}
#: Elements filtered per numpy call inside a block: a piece that stays in the CPU's cache.
_TILE = 1 << 15
#: The same for delta, in bytes (64 KiB tiles: 6.2 GB/s on random bytes, whole blocks 3.4).
_DELTA_TILE = 1 << 16
_WORD = np.dtype("<u8")
# Masks and shifts of the 8x8 bit-matrix transpose (each step swaps bits across a diagonal).
_STEPS = (
    (np.uint64(7), np.uint64(0x00AA00AA00AA00AA)),
    (np.uint64(14), np.uint64(0x0000CCCC0000CCCC)),
    (np.uint64(28), np.uint64(0x00000000F0F0F0F0)),
)


class Shuffle(NamedTuple):
    """A record's filter: ``"byte"`` or ``"bit"`` shuffle of elements of ``element_size``
    bytes, or ``"delta"`` (element size 1)."""

    name: str  # "byte", "bit" or "delta", as dump(shuffle=) and brinery info say it
    element_size: int

    @property
    def flag(self) -> int:
        """The record header's flag for this filter."""
        return _FLAGS[self.name]

    @property
    def description(self) -> str:
        """``"byte shuffle"``, ``"bit shuffle"`` or ``"delta"``, for messages."""
        return self.name if self.name == "delta" else f"{self.name} shuffle"

    @property
    def block_bytes(self) -> int:
        """The size of every block of a payload but its last, which may be shorter."""
        return block_elements(self.element_size) * self.element_size

    def shuffled(self, data: Any, out: np.ndarray | None = None) -> memoryview:
        """``data`` (bytes from a block boundary of a payload, whole blocks but the last)
        filtered, into ``out`` (``uint8``, of ``data``'s size) or new memory, as a byte view
        (what codecs take): the compression threads call this on their frames, each with a
        scratch buffer of its own."""
        source = _bytes_of(data)
        result = np.empty(source.size, np.uint8) if out is None else out
        for start in range(0, source.size, self.block_bytes):
            end = start + self.block_bytes
            _filter_block(result[start:end], source[start:end], self, forward=True)
        return result.data

    def unshuffle_in_place(self, memory: np.ndarray, threads: int = 1) -> None:
        """Undo the filter on a whole payload read into ``memory`` (``uint8``), block by block
        (a shuffle through one block-sized scratch buffer per thread; delta needs none).

        With ``threads``, the blocks are shared out among that many threads (numpy leaves the
        interpreter lock while it moves bytes): the load of a shuffled array waits for its last
        frame to decompress, and then for this, so this goes as fast as the frames did."""
        if not memory.size:
            return
        starts = range(0, memory.size, self.block_bytes)
        if threads <= 1 or len(starts) < 2 * threads:
            self._unshuffle_blocks(memory, starts)
            return
        from concurrent.futures import ThreadPoolExecutor  # (only loads that need it pay)

        with ThreadPoolExecutor(threads, thread_name_prefix="brinery-unshuffle") as pool:
            shares = [starts[first::threads] for first in range(threads)]
            for done in [pool.submit(self._unshuffle_blocks, memory, share) for share in shares]:
                done.result()

    def _unshuffle_blocks(self, memory: np.ndarray, starts: range) -> None:
        """Undo the filter on the blocks of ``memory`` that begin at ``starts``."""
        if self.name == "delta":
            for start in starts:
                block = memory[start : start + self.block_bytes]
                _running_sum(block, block)
            return
        scratch = np.empty(min(self.block_bytes, memory.size), np.uint8)
        for start in starts:
            block = memory[start : start + self.block_bytes]
            stored = scratch[: block.size]
            stored[...] = block
            _filter_block(block, stored, self, forward=False)


#: The filters, by name: ``dump(shuffle=)``'s modes but "auto" (which chooses one per array,
#: :mod:`brinery.filter_choice`).
FILTERS = tuple(_FLAGS)


def declared(flags: int, element_size: int) -> Shuffle | None:
    """The filter a record header's ``flags`` and element size (its reserved u32) declare, or
    ``None`` if they are not exactly one filter's flag and an element size it may have."""
    for name, flag in _FLAGS.items():
        if flags == flag:
            if name == "delta":
                valid = element_size == DELTA_ELEMENT_SIZE
            else:
                valid = MIN_ELEMENT_SIZE <= element_size <= MAX_ELEMENT_SIZE
            return Shuffle(name, element_size) if valid else None
    return None


def block_elements(element_size: int) -> int:
    """Elements in a whole block: as many as :data:`BLOCK_BYTES` holds, rounded down to a
    multiple of 8 (bit shuffle packs the bits of 8 elements into each byte)."""
    return BLOCK_BYTES // element_size // 8 * 8


def shuffled_blocks(pieces: Iterable[memoryview], shuffle: Shuffle) -> Iterator[memoryview]:
    """A payload given in ``pieces`` of any sizes (in order), filtered, as one new array per
    block: what a writer puts out when it filters the payload itself (bounded memory: a block
    and a block's worth of pieces)."""
    size = shuffle.block_bytes
    carry = np.empty(size, np.uint8)  # the start of a block whose end is in the next piece
    held = 0
    for piece in pieces:
        data = _bytes_of(piece)
        start = 0
        if held:
            take = min(size - held, data.size)
            carry[held : held + take] = data[:take]
            held += take
            start = take
            if held < size:
                continue
            yield shuffle.shuffled(carry)
            held = 0
            carry = np.empty(size, np.uint8)  # (the one yielded may still be in use)
        whole = (data.size - start) // size * size
        for offset in range(start, start + whole, size):
            yield shuffle.shuffled(data[offset : offset + size])
        rest = data.size - start - whole
        carry[:rest] = data[start + whole :]
        held = rest
    if held:
        yield shuffle.shuffled(carry[:held])


def unshuffled_pieces(blocks: Iterable[bytes], shuffle: Shuffle) -> Iterator[bytes]:
    """A filtered payload read in ``blocks`` (each a whole block, the last maybe shorter)
    as the array's own bytes, block by block."""
    for stored in blocks:
        source = np.frombuffer(stored, np.uint8)
        result = np.empty(source.size, np.uint8)
        _filter_block(result, source, shuffle, forward=False)
        yield result.tobytes()


def _bytes_of(data: Any) -> np.ndarray:
    """``data``'s bytes as a 1-d ``uint8`` array (a view of contiguous memory)."""
    if isinstance(data, np.ndarray):
        return data.reshape(-1).view(np.uint8)  # (numpy's datetimes export no buffer)
    return np.frombuffer(data, np.uint8)


def _filter_block(target: np.ndarray, source: np.ndarray, shuffle: Shuffle, forward: bool) -> None:
    """One block (or the last, shorter, one) of ``source`` into ``target``, filtered
    (``forward``) or unfiltered: delta-coded or summed back, or the elements that fit are
    regrouped and the rest is copied."""
    if shuffle.name == "delta":
        (_delta if forward else _running_sum)(target, source)
        return
    size = shuffle.element_size
    count = source.size // size
    bits = shuffle.name == "bit"
    if bits:
        count = count // 8 * 8
    used = count * size
    target[used:] = source[used:]
    if not count:
        return
    if bits:
        _bits(target[:used], source[:used], size, count, forward)
    else:
        _bytes(target[:used], source[:used], size, count, forward)


def _delta(target: np.ndarray, source: np.ndarray) -> None:
    """Delta coding of a block: its first byte as it is, then each byte minus the one before
    it, modulo 256 (``uint8`` arithmetic wraps), in tiles.  ``target`` is not ``source``."""
    if not source.size:
        return
    target[0] = source[0]
    for start in range(1, source.size, _DELTA_TILE):
        end = min(start + _DELTA_TILE, source.size)
        np.subtract(source[start:end], source[start - 1 : end - 1], out=target[start:end])


def _running_sum(target: np.ndarray, source: np.ndarray) -> None:
    """Delta decoding of a block: the running sum of its bytes, modulo 256 (``target`` may be
    ``source``: each sum needs only the one before).  Summed as ``int8``, which wraps alike and
    which numpy accumulates four times faster than ``uint8``."""
    np.add.accumulate(source.view(np.int8), out=target.view(np.int8))


def _bytes(target: np.ndarray, source: np.ndarray, size: int, count: int, forward: bool) -> None:
    """Byte shuffle of ``count`` elements: byte ``j`` of element ``i`` goes to ``j*count + i``
    (and back).  Plane by plane, in tiles of elements (the fastest numpy way measured)."""
    elements = (source if forward else target).reshape(count, size)
    planes = (target if forward else source).reshape(size, count)
    for start in range(0, count, _TILE):
        end = start + _TILE
        for byte in range(size):
            if forward:
                planes[byte, start:end] = elements[start:end, byte]
            else:
                elements[start:end, byte] = planes[byte, start:end]


def _bits(target: np.ndarray, source: np.ndarray, size: int, count: int, forward: bool) -> None:
    """Bit shuffle of ``count`` elements (a multiple of 8): byte plane ``j`` (as byte shuffle
    makes it) becomes 8 bit planes, bit 0 first, each holding that bit of every element, 8
    elements a byte, the first in bit 0.  Done in tiles of elements: each group of 8 elements
    of a plane is a 64-bit word, whose 8x8 bit matrix is transposed."""
    groups = count // 8
    elements = (source if forward else target).reshape(count, size)
    planes = (target if forward else source).reshape(size, 8, groups)
    for start in range(0, count, _TILE):
        end = min(start + _TILE, count)
        first, last = start // 8, end // 8
        if forward:
            words = elements[start:end].T.copy().view(_WORD)  # (size, tile/8), C order
            _transpose_bits(words)
            planes[:, :, first:last] = words.view(np.uint8).reshape(size, -1, 8).transpose(0, 2, 1)
        else:
            gathered = planes[:, :, first:last].transpose(0, 2, 1).copy()  # (a copy: changed below)
            words = gathered.view(_WORD).reshape(size, -1)
            _transpose_bits(words)
            tile = words.view(np.uint8).reshape(size, -1)  # (the byte planes of the tile)
            for byte in range(size):  # (plane by plane: see _bytes)
                elements[start:end, byte] = tile[byte]


def _transpose_bits(words: np.ndarray) -> None:
    """Transpose, in place, the 8x8 bit matrix in each little-endian 64-bit word (row ``r``:
    byte ``r``, column ``c``: bit ``c``); its own inverse."""
    swapped = np.empty_like(words)  # (in place: a third fewer passes over memory)
    for shift, mask in _STEPS:
        np.right_shift(words, shift, out=swapped)
        swapped ^= words
        swapped &= mask
        words ^= swapped
        swapped <<= shift
        words ^= swapped
