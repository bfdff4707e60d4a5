"""One finding per cause: the stored regressions that moved together, ranked by severity.

One slowdown is three regressions in the store (step time up, throughput and speedup down); one
slower compile is compile time and two of its phases. People act on causes, so every reader
(`perfwatch regressions`, `report`, alerts, the dashboard) shows findings: the regressions of one
case (machine, suite, benchmark, mode, backend, dtype, parameters) first seen in one run, in one
of the catalogue's groups of figures that move together (time, compile, memory, unified memory,
accuracy), the most severe one leading and the rest as its evidence.

Severity orders findings, never dates: the size of the change (relative, capped at 100%; an exact
counter's change — a graph break more — counts as 25%: certain, but its cost shows in the step or
compile time, which rank on their own), times the confidence that it is not noise, times the
metric's importance (``perfwatch.domain.metrics.importance``: a wrong result outranks a slower
step, which outranks more memory, which outranks a slower compile or a noisier page-fault count). A pure function of the regression rows of
``perfwatch.store.history``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable

from perfwatch.domain import metrics as catalogue

CHANGE_CAP = 1.0  # a change counts at most 100% toward severity
# an exact counter's change (a graph break more, 0 -> 2 recompiles) counts as a 25% change: it is
# certain, but what it costs shows in the step or compile time, which rank on their own
COUNTER_CAP = 0.25


@dataclass(frozen=True)
class Finding:
    """The regressions of one cause: ``lead`` (the most severe) and the rest as ``evidence``."""

    lead: dict[str, Any]
    evidence: tuple[dict[str, Any], ...]
    group: str  # the catalogue group (time, compile, memory, uvm, accuracy)
    severity: float

    @property
    def rows(self) -> tuple[dict[str, Any], ...]:
        return (self.lead, *self.evidence)

    @property
    def ids(self) -> tuple[int, ...]:
        return tuple(r["id"] for r in self.rows if r.get("id") is not None)

    @property
    def id(self) -> int | None:
        """A finding is named by its leading regression's id (what --ack and the dashboard take)."""
        return self.lead.get("id")

    @property
    def state(self) -> str:
        """Open while any of its regressions is open."""
        states = {r.get("state") for r in self.rows}
        return "open" if "open" in states else (self.lead.get("state") or "open")

    def __getitem__(self, key: str) -> Any:  # the case's fields, read off the lead: f["benchmark"]
        return self.lead[key]


def severity(row: dict[str, Any]) -> float:
    """How much one stored regression matters: change (capped) x confidence x importance."""
    change = row.get("change")
    size = abs(change) if isinstance(change, (int, float)) and not math.isnan(change) else 0.0
    p = row.get("pvalue")
    confidence = 1.0 - min(max(float(p), 0.0), 1.0) if isinstance(p, (int, float)) and not math.isnan(p) else 0.5
    m = catalogue.spec(row["metric"], row.get("unit"))
    cap = COUNTER_CAP if m.exact and m.group != catalogue.ACCURACY else CHANGE_CAP
    return min(size, cap) * confidence * catalogue.importance(row["metric"], row.get("unit"))


def cause_key(row: dict[str, Any]) -> tuple:
    """What makes regressions one cause: the same case in the same run, the same group of figures."""
    group = catalogue.spec(row["metric"], row.get("unit")).group
    return (row.get("run_id"), row.get("machine") or row.get("hostname"), row.get("suite"), row.get("benchmark"),
            row.get("mode"), row.get("backend"), row.get("dtype"), row.get("params_key"), group)


def group_findings(rows: Iterable[dict[str, Any]]) -> list[Finding]:
    """The findings of ``rows`` (regression dicts), most severe first."""
    by_cause: dict[tuple, list[dict[str, Any]]] = {}
    for r in rows:
        by_cause.setdefault(cause_key(r), []).append(r)
    order = {name: i for i, name in enumerate(catalogue.METRICS)}
    findings = []
    for key, members in by_cause.items():
        # most severe first; a tie goes to the catalogue's order (step time before throughput)
        members = sorted(members, key=lambda r: (-severity(r), order.get(r["metric"], len(order)), r.get("id") or 0))
        findings.append(Finding(members[0], tuple(members[1:]), key[-1], severity(members[0])))
    return sorted(findings, key=lambda f: (-f.severity, str(f.lead.get("ts") or ""), f.id or 0))


def finding_of(rows: Iterable[dict[str, Any]], regression_id: int) -> Finding | None:
    """The finding that holds regression ``regression_id`` among ``rows``."""
    for f in group_findings(rows):
        if regression_id in f.ids:
            return f
    return None
