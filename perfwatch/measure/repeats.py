"""Several worker processes for one case (``perfwatch run --processes N``), combined into one result.

Why: a launch-bound step (a small model in eager mode, where the host's speed at issuing kernels
sets the time) moves by 5-20% from one process to the next and from one second to the next:
core placement, memory layout, the host's clock. One process's median, however many samples it
holds, carries that whole offset. The median of several fresh processes' medians does not
(pyperf's method). Only timing is repeated: the first process runs every pass (compile, memory,
unified memory, profiler, accuracy); the others run with ``timing_only`` and their compile time is
not reported (their compile caches are warm).

The combined ``step_time``: the median of the processes' medians; its samples are the pooled
samples; its confidence interval covers both the pooled samples' CI of the median and the
spread of the process medians (so a process-to-process offset widens it, as it should).
"""

from __future__ import annotations

import statistics
from dataclasses import replace
from datetime import datetime

from perfwatch.collectors.timing import throughput_metric
from perfwatch.domain.results import LOWER, STATUS_OK, CaseResult, Metric
from perfwatch.domain.sampling import summarize

TIMING_METRICS = ("step_time", "step_time_mad", "host_time", "throughput")


def repeat_spec(spec):
    """The spec of a timing-only repeat: no profiler window, no accuracy references."""
    return replace(spec, timing_only=True, profile_dir=None, accuracy=False)


def combine(first: CaseResult, repeats: list[CaseResult], interleaved: bool = False) -> CaseResult:
    """``first`` (a full, ok process) and timing-only ``repeats`` as one case result.

    ``interleaved``: the repeats ran in later rounds of the run (``--interleave``), not back to back."""
    good = [c for c in [first, *repeats] if c.status == STATUS_OK and c.metric("step_time") is not None]
    failed = [f"{c.status}: {(c.error or '').splitlines()[0] if c.error else ''}" for c in repeats
              if c.status != STATUS_OK or c.metric("step_time") is None]
    timing = dict(first.details.get("timing") or {})
    timing["processes"] = len(good)
    if failed:
        timing["failed_processes"] = failed
    if interleaved:
        timing["interleaved"] = True
    span = _span_s([first, *repeats])
    if span is not None:  # how far apart in time the processes ran
        timing["process_span_s"] = span
    if len(good) < 2:
        return replace(first, details={**first.details, "timing": timing},
                       duration_s=_total_duration(first, repeats))

    steps = [c.metric("step_time") for c in good]
    medians = [m.value for m in steps]
    pooled = tuple(x for m in steps for x in (m.samples or (m.value,)))
    s = summarize(pooled)
    med = statistics.median(medians)
    ci_low, ci_high = min(s.ci_low, min(medians)), max(s.ci_high, max(medians))
    out = [Metric("step_time", med, "ms", LOWER, spread=s.iqr, ci_low=ci_low, ci_high=ci_high, n=s.n, samples=pooled),
           Metric("step_time_mad", s.mad, "ms", LOWER)]
    hosts = [c.metric("host_time").value for c in good if c.metric("host_time") is not None]
    if hosts:
        out.append(Metric("host_time", statistics.median(hosts), "ms", LOWER))
    thr = first.metric("throughput")
    if thr is not None and first.metric("step_time").value > 0 and med > 0:
        items = thr.value * first.metric("step_time").value / 1e3  # items per step
        out.append(throughput_metric(items, thr.unit, med, ci_low, ci_high, s.n))
    timing["process_medians_ms"] = [round(v, 6) for v in medians]
    mean = statistics.fmean(medians)
    timing["process_cv"] = round(statistics.stdev(medians) / mean, 5) if mean > 0 else None
    if hosts and med > 0:
        timing["host_fraction"] = round(statistics.median(hosts) / med, 3)
    kept = tuple(m for m in first.metrics if m.name not in TIMING_METRICS)
    return replace(first, metrics=kept + tuple(out), details={**first.details, "timing": timing},
                   duration_s=_total_duration(first, repeats))


def _total_duration(first: CaseResult, repeats: list[CaseResult]) -> float | None:
    if first.duration_s is None:
        return None
    return first.duration_s + sum(r.duration_s or 0.0 for r in repeats)


def _span_s(cases: list[CaseResult]) -> float | None:
    """Seconds from the start of the first process to the end of the last one."""
    if not cases[0].started_at:
        return None
    timed = [c for c in cases if c.started_at]  # a repeat that could not start has no time
    starts = [datetime.fromisoformat(c.started_at).timestamp() for c in timed]
    ends = [t + (c.duration_s or 0.0) for t, c in zip(starts, timed)]
    return round(max(ends) - min(starts), 3)
