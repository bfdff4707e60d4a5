"""Read metric histories from CSV: columns ``series,ts,value`` and optional ``direction``
("lower_is_better"/"higher_is_better"), ``spread`` (IQR of the run's samples) and ``n``.

``ts`` must be sortable within a series: all integers, or all ISO 8601 times (a trailing "Z"
is accepted). Points come back sorted by ts. Every problem raises InputError naming the line.
"""

from __future__ import annotations

import csv
import io
import math
from datetime import datetime

from perfwatch.detect.model import DIRECTIONS, MAX_MAGNITUDE, Point
from perfwatch.domain.errors import InputError

REQUIRED = ("series", "ts", "value")
_MAX_N = 10**15  # samples per run: more would overflow the float arithmetic of its error


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
    # 1e308 is finite, but its square and sums are not: the detector's arithmetic would overflow.
    if abs(x) > (_MAX_N if integer else MAX_MAGNITUDE):
        raise InputError(f"{where}: {what} {raw!r} is out of range (magnitude above "
                         f"{_MAX_N if integer else MAX_MAGNITUDE:g})")
    return x


def _text(path) -> str:
    """The file as text: UTF-8 (a byte-order mark is dropped). Anything else is an InputError
    naming the line, rather than a guess at the encoding that would misspell series names."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise InputError(f"{path}: cannot read: {e.strerror}") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        raise InputError(f"{path}: line {line}: not UTF-8 text (byte 0x{raw[e.start]:02x}); save the CSV as "
                         f"UTF-8, e.g. iconv -f latin1 -t utf-8 {path}") from None


def read_series_csv(path) -> dict[str, tuple[str | None, list[Point]]]:
    """{series: (direction or None, points sorted by ts)}."""
    try:
        return _read(path, io.StringIO(_text(path), newline=""))
    except csv.Error as e:  # a NUL byte, an unterminated quote at the end, a huge field
        raise InputError(f"{path}: not a CSV file: {e}") from None


def _read(path, f) -> dict[str, tuple[str | None, list[Point]]]:
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
