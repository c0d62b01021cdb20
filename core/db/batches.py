"""Batches of any size in statements of a few fixed shapes.

pysqlite keeps up to 128 prepared statements per connection, one per distinct SQL text,
at roughly 200 bytes per parameter (psycopg likewise prepares a text it sees repeatedly).
An IN-list as long as whatever a batch had, or a multi-row INSERT of whatever a batch
held, is a new text every time: over a long run that is tens of megabytes per connection
(measured: a tick of 10,000 escalations and their notices held ~8 MB more than one of
2,000). So IN-lists are padded to a power of two by repeating a value, and multi-row
INSERTs go in chunks whose sizes are powers of two: a handful of texts, whatever comes.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TypeVar

T = TypeVar("T")


def padded(values: Sequence[T]) -> list[T]:
    """``values`` (not empty) padded to the next power of two by repeating the last one:
    for ``IN`` lists, where a repeated value changes nothing."""
    values = list(values)
    return values + [values[-1]] * ((1 << (len(values) - 1).bit_length()) - len(values))


def in_chunks(values: Sequence[T], most: int = 512) -> Iterator[list[T]]:
    """``values`` as padded ``IN`` lists of at most ``most`` (a power of two) each."""
    for start in range(0, len(values), most):
        yield padded(values[start:start + most])


def power_chunks(rows: Sequence[T], most: int = 256) -> Iterator[Sequence[T]]:
    """``rows`` in consecutive chunks whose sizes are powers of two (largest first, none
    above ``most``, itself a power of two): 165 rows go as 128, 32, 4 and 1."""
    start = 0
    while start < len(rows):
        size = min(most, 1 << ((len(rows) - start).bit_length() - 1))
        yield rows[start:start + size]
        start += size
