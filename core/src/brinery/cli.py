"""The ``brinery`` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .plugins import HOST


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="brinery", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("plugins", help="list the loaded plugins and their compressors")
    arguments = parser.parse_args(argv)
    if arguments.command == "plugins":
        return _plugins()
    raise AssertionError(f"unhandled command {arguments.command!r}")


def _plugins() -> int:
    rows = [("plugin", "distribution", "version", "hooks", "compressors")]
    registered = HOST.ensure_loaded().snapshot()
    for plugin in HOST.plugins():
        described = [
            f"{name} ({', '.join(registered[name].extensions)})"
            for name in plugin.compressors
            if name in registered
        ]
        rows.append(
            (
                plugin.name,
                plugin.distribution,
                plugin.version,
                ", ".join(plugin.hooks),
                ", ".join(described) or "-",
            )
        )
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]) - 1)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        sys.stdout.write("  ".join([*cells, row[-1]]).rstrip() + "\n")
    return 0
