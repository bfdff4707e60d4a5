"""The memory cap of the batch search (``perfwatch run --batch-search``): parsed once, named one way.

A cap is either a size (``256MiB``, ``40GiB``, ``1000000``: bytes) or a fraction of the device's
memory (``0.5``: half the GPU, or half the machine's RAM on CPU). Fractions stop at
``MAX_FRACTION``: the search fills memory up to the cap on purpose, and a shared GPU or host must
keep room for everyone else. The canonical text (``cap_text``) is part of the series identity of
the batch figures (perfwatch/domain/series.py): ``256MiB`` and ``268435456`` are one cap, another
cap is another series, never a regression.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

MAX_FRACTION = 0.9
# the cap when none is given: on CPU a size small enough for CI at size tiny; on CUDA half the GPU
DEFAULT_CAP = {"cpu": "256MiB", "cuda": "0.5"}
_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}
_SIZE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]*)\s*$")


@dataclass(frozen=True)
class MemoryCap:
    fraction: float | None = None  # of the device's total memory
    nbytes: int | None = None

    def bytes_of(self, total: int) -> int:
        """The cap in bytes on a device with ``total`` bytes."""
        return self.nbytes if self.nbytes is not None else int(self.fraction * total)


def parse_cap(text: str | float | int) -> MemoryCap:
    """``text`` as a cap; ValueError with what is expected when it is none."""
    raw = str(text).strip()
    m = _SIZE.match(raw)
    if not m or m.group(2).lower() not in _UNITS:
        raise ValueError(f"expected a size (256MiB, 40GiB) or a fraction of the device's memory in (0, "
                         f"{MAX_FRACTION}], got {raw!r}")
    number, unit = float(m.group(1)), m.group(2).lower()
    if not math.isfinite(number) or number <= 0:
        raise ValueError(f"a memory cap must be > 0, got {raw!r}")
    if not unit and number < 1:  # a bare number below one is a fraction; one and above is bytes
        if number > MAX_FRACTION:
            raise ValueError(f"a fraction of the device's memory must be at most {MAX_FRACTION}, got {raw!r}")
        return MemoryCap(fraction=number)
    if not unit and "." in m.group(1):
        raise ValueError(f"a size in bytes must be a whole number, got {raw!r} (or give a unit: 256MiB)")
    return MemoryCap(nbytes=int(number * _UNITS[unit]))


def cap_text(cap: MemoryCap) -> str:
    """The canonical text of a cap: the largest binary unit that divides it, or the fraction."""
    if cap.fraction is not None:
        return f"{cap.fraction:g}"
    for unit, scale in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if cap.nbytes % scale == 0:
            return f"{cap.nbytes // scale}{unit}"
    return f"{cap.nbytes}B"


def resolve_cap(text: str | None, backend: str) -> str:
    """The canonical cap a case of ``backend`` searches under: the given one, else the backend's default."""
    return cap_text(parse_cap(text if text is not None else DEFAULT_CAP.get(backend, DEFAULT_CAP["cpu"])))
