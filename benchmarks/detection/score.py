"""Scoring of change detectors against labels.

A detection matches a labelled change when it is within ``tol`` (3) points of it and, where the
label has a sign, moves the same way; matching is one-to-one, nearest first. Precision, recall,
F1 over all matches; false alarms per 1000 points over change-free series; online delay =
index at which the alert was raised minus the labelled change index, over matched alerts.
Positions in ``optional`` are neither rewarded nor penalised: a detection near one is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

TOL = 3


@dataclass
class Detection:
    index: int
    sign: int = 0  # +1 up, -1 down, 0 unknown
    raised_index: int | None = None


@dataclass
class Tally:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    free_points: int = 0
    free_alarms: int = 0
    delays: list[int] = field(default_factory=list)

    def add(self, other: "Tally") -> None:
        self.tp += other.tp
        self.fp += other.fp
        self.fn += other.fn
        self.free_points += other.free_points
        self.free_alarms += other.free_alarms
        self.delays += other.delays

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def fa_per_1000(self) -> float:
        return 1000 * self.free_alarms / self.free_points if self.free_points else float("nan")

    @property
    def median_delay(self) -> float:
        return float(np.median(self.delays)) if self.delays else float("nan")


def score_series(dets: list[Detection], changes: list[int], signs: list[int] | None, n: int,
                 change_free: bool, optional: list[int] = (), tol: int = TOL) -> Tally:
    t = Tally()
    dets = [d for d in dets if not any(abs(d.index - o) <= tol for o in optional)]
    pairs = []
    for di, d in enumerate(dets):
        for ci, c in enumerate(changes):
            s = signs[ci] if signs else 0
            if abs(d.index - c) <= tol and (s == 0 or d.sign == 0 or d.sign == s):
                pairs.append((abs(d.index - c), di, ci))
    used_d, used_c = set(), set()
    for _, di, ci in sorted(pairs):
        if di in used_d or ci in used_c:
            continue
        used_d.add(di)
        used_c.add(ci)
        if dets[di].raised_index is not None:
            t.delays.append(dets[di].raised_index - changes[ci])
    t.tp = len(used_c)
    t.fn = len(changes) - t.tp
    t.fp = len(dets) - len(used_d)
    if change_free:
        t.free_points = n
        t.free_alarms = len(dets)
    return t
