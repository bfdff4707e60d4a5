"""A short torch.profiler window over a case's steps, written for TensorBoard's profiler plugin.

Runs in a pass of its own, after warm-up, timing, memory and unified-memory passes: the profiler
slows every step, and Kineto takes over CUPTI's activity callbacks for the rest of the process
(unified-memory counters stop arriving after it). Traces go to
``<profile_dir>/<worker_name>.<ms since epoch>.pt.trace.json.gz`` through
``torch.profiler.tensorboard_trace_handler``; the runner makes ``profile_dir`` ``<logdir>/<run id>``,
so ``tensorboard --logdir <logdir>`` (with ``perfwatch[profiler]``, torch-tb-profiler) shows one
run per perfwatch run and one worker per case.
"""

from __future__ import annotations

import glob
import os
import re
from typing import Any

from perfwatch.collectors.base import CaseContext, Collector
from perfwatch.domain.results import Metric

WARMUP_STEPS = 1  # profiled but discarded: the profiler's own start-up cost lands here
ACTIVE_STEPS = 3


def worker_name(suite: str, benchmark: str, mode: str) -> str:
    """A worker name torch-tb-profiler parses back: no dots (they separate the span)."""
    return re.sub(r"[^A-Za-z0-9_-]+", "_", f"{suite}-{benchmark}-{mode}")


class ProfileWatch:
    """``with ProfileWatch(dir, name, device) as prof: for _ in range(prof.steps): step(); prof.step()``

    ``details()`` holds ``trace_dir`` and ``trace_file`` (or ``profile_status`` saying why there
    is none). It records no metric: a profiled step is not a measurement of the step.
    """

    name = "profiler"

    def __init__(self, trace_dir: str, name: str, device: str = "cpu", warmup: int = WARMUP_STEPS,
                 active: int = ACTIVE_STEPS) -> None:
        self.trace_dir = os.path.abspath(trace_dir)
        self.worker = name
        self.device = device
        self.warmup = warmup
        self.active = active
        self._prof = None
        self._details: dict[str, Any] = {}

    @property
    def steps(self) -> int:
        return self.warmup + self.active

    def __enter__(self) -> "ProfileWatch":
        import torch
        from torch.profiler import ProfilerActivity, profile, schedule, tensorboard_trace_handler

        os.makedirs(self.trace_dir, exist_ok=True)
        self._before = set(glob.glob(os.path.join(self.trace_dir, f"{self.worker}.*.pt.trace.json*")))
        activities = [ProfilerActivity.CPU]
        if self.device.startswith("cuda") and torch.cuda.is_available():
            activities.append(ProfilerActivity.CUDA)
        self._prof = profile(
            activities=activities,
            schedule=schedule(wait=0, warmup=self.warmup, active=self.active, repeat=1),
            on_trace_ready=tensorboard_trace_handler(self.trace_dir, worker_name=self.worker, use_gzip=True),
        )
        self._prof.__enter__()
        self._details = {"trace_dir": self.trace_dir, "profile_steps": self.active,
                         "profile_activities": [a.name for a in activities]}
        return self

    def step(self) -> None:
        self._prof.step()

    def __exit__(self, *exc: object) -> None:
        self._prof.__exit__(*exc)
        new = sorted(set(glob.glob(os.path.join(self.trace_dir, f"{self.worker}.*.pt.trace.json*"))) - self._before)
        if new:
            self._details["trace_file"] = new[-1]
        else:
            self._details["profile_status"] = "no trace written (the profiler window did not complete)"

    def metrics(self) -> list[Metric]:
        return []

    def details(self) -> dict[str, Any]:
        return dict(self._details)


class ProfileCollector(Collector):
    """The worker's profiler pass (``--profile``): the last pass that steps the timed build."""

    name = "profile"

    def applies(self, ctx: CaseContext) -> str | None:
        return None if ctx.spec.profile_dir else "no --profile"

    def run(self, ctx: CaseContext) -> None:
        spec = ctx.spec
        with ProfileWatch(spec.profile_dir, worker_name(spec.suite, spec.benchmark, spec.mode), spec.backend) as prof:
            for _ in range(prof.steps):
                ctx.call()
                prof.step()
        self._details = prof.details()
