"""Typed rows the store hands out: runs, a run's summary, and plain tables for the dashboard.

Times are ISO-8601 strings in UTC, as in every other record the store gives out (export records,
regressions): JSON output, sorting and comparing them need no conversion, and SQLite's naive
datetimes and Postgres's aware ones look the same.

``to_dict()`` is the JSON form (`perfwatch runs --json`, `perfwatch report --format json`), with
the keys in the order those commands always printed. ``row[key]`` reads a field like the dicts
these readers returned before they were typed, so code that reads by key (the asv export, the
report) keeps working; new code uses attributes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any


class _ByKey:
    def __getitem__(self, key: str) -> Any:
        if key not in self._keys():
            raise KeyError(key)
        return getattr(self, key)

    def get(self, key: str, default: Any = None) -> Any:
        return getattr(self, key) if key in self._keys() else default

    @classmethod
    def _keys(cls) -> frozenset[str]:
        return frozenset(f.name for f in fields(cls))  # type: ignore[arg-type]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]


@dataclass(frozen=True)
class RunRow(_ByKey):
    """One run in a listing (`perfwatch runs`)."""

    id: str
    created_at: str
    suite: str
    backend: str
    size: str
    status: str
    cases_total: int | None
    cases_failed: int | None
    git_sha: str | None
    git_branch: str | None
    torch_version: str | None
    hostname: str | None


@dataclass(frozen=True)
class RunSummary(_ByKey):
    """Everything stored about one run. ``machine`` is the machine's fingerprint, ``hostname``
    its name. Fields in the order of the JSON the report has always printed (the runs table's
    columns, then the machine, then the id)."""

    created_at: str
    finished_at: str | None
    suite: str
    backend: str
    size: str
    status: str
    cases_total: int | None
    cases_failed: int | None
    git_sha: str | None
    git_branch: str | None
    torch_version: str | None
    perfwatch_version: str | None
    command: str | None
    tags: dict[str, Any]
    environment: dict[str, Any]
    hostname: str | None
    machine: str
    run_id: str


@dataclass(frozen=True)
class Table:
    """Rows of one query as plain tuples with their column names: what a data frame is built
    from without a copy per row (the dashboard reads thousands of rows per page)."""

    columns: tuple[str, ...]
    rows: list[tuple]
