"""The shape of a collector (after pyperf's hooks: a context manager that adds figures)."""

from __future__ import annotations

from typing import Protocol

from perfwatch.domain.results import Metric


class Collector(Protocol):
    """Wraps a measured region; afterwards ``metrics()`` says what it saw.

    ``details()`` returns anything worth keeping that is not a number (reasons, paths).
    A collector that cannot measure on this machine raises nothing: it reports that in
    ``details()['<name>_status']`` and returns no metric — never a silent zero.
    """

    name: str

    def __enter__(self) -> "Collector": ...

    def __exit__(self, *exc: object) -> None: ...

    def metrics(self) -> list[Metric]: ...

    def details(self) -> dict: ...
