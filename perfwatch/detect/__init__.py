"""Regression detection: pure functions from a metric's history to its level changes.

    detect(points, direction, config)        every change point of a history (retrospective)
    detect_online(points, direction, config) replay run by run; each alert with raised_at
    online_step(history, direction, config)  is the newest run (with confirm: runs) a new level?

No I/O here except ``perfwatch.detect.csvinput``. Method and thresholds: docs/detection.md.
"""

from perfwatch.detect.changepoint import detect
from perfwatch.detect.model import (
    DIRECTIONS,
    HIGHER,
    IMPROVEMENT,
    LOWER,
    REGRESSION,
    ChangePoint,
    DetectConfig,
    Point,
)
from perfwatch.detect.online import detect_online, online_step

__all__ = [
    "DIRECTIONS",
    "HIGHER",
    "IMPROVEMENT",
    "LOWER",
    "REGRESSION",
    "ChangePoint",
    "DetectConfig",
    "Point",
    "detect",
    "detect_online",
    "online_step",
]
