"""Byte-level corruption of request bodies for the fuzz tests.

An edit is `(kind, position, byte)`: kind 0 overwrites the byte at `position` (modulo the length),
1 inserts `byte` there, 2 deletes the byte there.
"""

from __future__ import annotations

from collections.abc import Iterable


def mutated(body: bytes, edits: Iterable[tuple[int, int, int]], *, min_length: int = 0) -> bytes:
    """`body` after `edits`; deletions stop at `min_length` bytes, and an emptied body ends the edits."""
    out = bytearray(body)
    for kind, position, byte in edits:
        if not out:
            break
        where = position % len(out)
        if kind == 0:
            out[where] = byte
        elif kind == 1:
            out.insert(where, byte)
        elif len(out) > min_length:
            del out[where]
    return bytes(out)
