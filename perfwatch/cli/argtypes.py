"""Validated argparse types for the numbers commands take.

argparse's own ``type=float`` takes "nan", "inf" and "1e999", and ``type=int`` takes -1 for a
limit or a count; each of those then either disables the check it feeds (NaN compares false
everywhere) or reaches the database as nonsense. A flag typed with one of these fails at parse
time, exit 2, with argparse's "argument --NAME: ..." naming it.

Settings that also come from PERFWATCH_* variables and the config file (--timeout, --min-time,
--precision, ...) are validated once, in perfwatch.domain.config, for all three sources alike.
"""

from __future__ import annotations

import argparse
import math
from typing import Callable


def _number(text: str, whole: bool) -> float | int:
    try:
        v = int(text) if whole else float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {'a whole number' if whole else 'a number'}, got {text!r}") from None
    if not whole and not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return v


def bounded(*, whole: bool = False, low: float | None = None, high: float | None = None,
            low_open: bool = False, high_open: bool = False, what: str) -> Callable[[str], float | int]:
    """A type accepting a finite number in [low, high] (an open end excludes its bound); ``what``
    names the range in the message ("a probability in (0, 1)")."""

    def parse(text: str) -> float | int:
        v = _number(text, whole)
        if ((low is not None and (v <= low if low_open else v < low))
                or (high is not None and (v >= high if high_open else v > high))):
            raise argparse.ArgumentTypeError(f"must be {what}, got {text}")
        return v

    parse.__name__ = what  # argparse names the type in some of its messages
    return parse


positive_int = bounded(whole=True, low=1, what="a whole number >= 1")
nonnegative_int = bounded(whole=True, low=0, what="a whole number >= 0")
seconds = bounded(low=0, low_open=True, what="a number of seconds > 0")
probability = bounded(low=0, high=1, low_open=True, high_open=True, what="a probability in (0, 1)")
pvalue = bounded(low=0, high=1, low_open=True, what="a p-value in (0, 1]")
nonnegative = bounded(low=0, what="a number >= 0")
port = bounded(whole=True, low=1, high=65535, what="a port number in 1..65535")


def memory_cap(text: str) -> str:
    """A memory cap (``--batch-memory-cap``): a size (256MiB, 40GiB) or a fraction of the device in (0, 0.9]."""
    from perfwatch.domain.batch_cap import parse_cap

    try:
        parse_cap(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text
