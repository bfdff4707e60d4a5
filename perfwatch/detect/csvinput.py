"""Read metric histories from CSV: columns ``series,ts,value`` and optional ``direction``
("lower_is_better"/"higher_is_better"), ``spread`` (IQR of the run's samples) and ``n``.

``ts`` must be sortable within a series: all integers, or all ISO 8601 times (a trailing "Z"
is accepted). Points come back sorted by ts. Every problem raises InputError naming the line.
"""

from __future__ import annotations

import csv
import math
from datetime import datetime

from perfwatch.detect.model import DIRECTIONS, Point
from perfwatch.domain.errors import InputError

REQUIRED = ("series", "ts", "value")


def _ts(raw: str, where: str):
    s = raw.strip()
    try:
        return int(s)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(s[:-1] + "+00:00" if s.endswith("Z") else s)
    except ValueError:
        raise InputError(f"{where}: ts {raw!r} is neither an integer nor an ISO time") from None


def _number(raw: str, what: str, where: str, integer: bool = False):
    try:
        x = int(raw) if integer else float(raw)
    except ValueError:
        raise InputError(f"{where}: {what} {raw!r} is not a number") from None
    if not integer and not math.isfinite(x):
        raise InputError(f"{where}: {what} {raw!r} is not finite")
    return x


def read_series_csv(path) -> dict[str, tuple[str | None, list[Point]]]:
    """{series: (direction or None, points sorted by ts)}."""
    try:
        f = open(path, newline="", encoding="utf-8")
    except OSError as e:
        raise InputError(f"{path}: cannot read: {e.strerror}") from None
    with f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None:
            raise InputError(f"{path}: line 1: empty file, expected columns {','.join(REQUIRED)}")
        header = [h.strip().lower() for h in header]
        missing = [c for c in REQUIRED if c not in header]
        if missing:
            raise InputError(f"{path}: line 1: missing column(s) {', '.join(missing)} "
                             f"(header: {','.join(header)})")
        col = {name: header.index(name) for name in header}
        rows: dict[str, list[tuple[object, Point, int]]] = {}
        directions: dict[str, tuple[str, int]] = {}
        for row in reader:
            line = reader.line_num
            where = f"{path}: line {line}"
            if not row or all(not c.strip() for c in row):
                continue
            if len(row) != len(header):
                raise InputError(f"{where}: {len(row)} fields, header has {len(header)}")
            get = lambda name: row[col[name]].strip() if name in col else ""  # noqa: E731
            series = get("series")
            if not series:
                raise InputError(f"{where}: empty series name")
            ts = _ts(get("ts"), where)
            value = _number(get("value"), "value", where)
            spread = _number(get("spread"), "spread", where) if get("spread") else None
            n = _number(get("n"), "n", where, integer=True) if get("n") else None
            d = get("direction")
            if d:
                if d not in DIRECTIONS:
                    raise InputError(f"{where}: direction {d!r} is not one of {', '.join(DIRECTIONS)}")
                if series in directions and directions[series][0] != d:
                    raise InputError(f"{where}: direction {d!r} differs from {directions[series][0]!r}"
                                     f" given for {series!r} on line {directions[series][1]}")
                directions.setdefault(series, (d, line))
            rows.setdefault(series, []).append((ts, Point(ts, value, spread, n), line))
    out = {}
    for series, items in rows.items():
        kinds = {type(t) for t, _, _ in items}
        if len(kinds) > 1:
            line = next(ln for t, _, ln in items if type(t) is not type(items[0][0]))
            raise InputError(f"{path}: line {line}: series {series!r} mixes integer and ISO-time ts")
        try:
            items.sort(key=lambda it: it[0])
        except TypeError:  # naive and aware datetimes
            raise InputError(f"{path}: line {items[0][2]}: series {series!r} mixes ISO times "
                             "with and without a time zone") from None
        for (t0, _, l0), (t1, _, l1) in zip(items, items[1:]):
            if t0 == t1:
                first, second = sorted((l0, l1))
                raise InputError(f"{path}: line {second}: duplicate ts {t1} in series {series!r}"
                                 f" (first on line {first})")
        out[series] = (directions.get(series, (None, 0))[0], [p for _, p, _ in items])
    return out
