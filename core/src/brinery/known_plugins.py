"""Compressors that brinery knows of but ships separately, so it can say what to install.

A file whose first bytes are one of these magic numbers, or a name or file extension that
selects one of these compressors, raises :class:`~brinery.CompressorNotInstalledError` naming
the distribution when its plugin is not installed, instead of "unknown format".
"""

from __future__ import annotations

from typing import NamedTuple


class KnownPlugin(NamedTuple):
    compressor: str
    distribution: str
    magic: bytes
    extensions: tuple[str, ...]

    @property
    def install_hint(self) -> str:
        """How to install the plugin: its published name, and its folder in a clone of brinery's
        repository (where a newcomer following the README is, before anything is published)."""
        return (
            f"pip install {self.distribution} (or, from a clone of brinery's repository: "
            f"pip install ./plugins/{self.distribution})"
        )


KNOWN_PLUGINS: tuple[KnownPlugin, ...] = (
    KnownPlugin("lz4", "brinery-lz4", b"\x04\x22\x4d\x18", (".lz4",)),
    KnownPlugin("lzo", "brinery-lzo", b"\x89LZO\x00\r\n\x1a\n", (".lzo",)),
    KnownPlugin("zstd", "brinery-zstd", b"\x28\xb5\x2f\xfd", (".zst", ".zstd")),
)
