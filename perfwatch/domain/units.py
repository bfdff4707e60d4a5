"""Figures as people read them, for every place that prints one (alerts, reports, the CLI):
bytes scaled (2.44 GiB), times in the unit people say (1.23 s, 850 ms, 42 µs), thousands
separated and never an exponent in the range people read (119,949 items/s, not 1.199e+05)."""

from __future__ import annotations

import math


def figure(v: float, unit: str) -> str:
    """A value as people read it: bytes scaled (3 GiB), others with their unit (12.5 ms), counts bare."""
    if unit == "bytes":
        for scale, name in ((2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
            if abs(v) >= scale:
                return f"{v / scale:.3g} {name}"
        return f"{v:.0f} B"
    if unit == "ms" and abs(v) >= 1000:  # times in the unit people say: 1.23 s, 850 ms, 42 µs
        v, unit = v / 1000, "s"
    elif unit == "s" and 0 < abs(v) < 1:
        v, unit = v * 1000, "ms"
    if unit == "ms" and 0 < abs(v) < 1:
        v, unit = v * 1000, "µs"
    num = number(v)
    if unit == "x":
        return f"{num}x"
    return f"{num} {unit}" if unit and unit not in ("count", "bool", "ratio", "abs") else num


def number(v: float) -> str:
    """Four significant figures, thousands separated, never an exponent in the range people read
    (119,949 and 95,850, not 9.585e+04)."""
    if not math.isfinite(v):
        return str(v)
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if v == 0 or abs(v) >= 1e-3:
        return f"{v:.4g}"
    return f"{v:.2e}"


def change(x: float) -> str:
    """A relative change as people read it: +12.3%, or "new" / "gone" for a change from or to zero
    (never "+inf%" or an empty cell)."""
    if math.isnan(x):
        return "-"
    if math.isinf(x):
        return "new" if x > 0 else "gone"
    return f"{x * 100:+.1f}%"
