"""Byte streams under the format: exact reading, and compression in independent frames."""
