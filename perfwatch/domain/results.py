"""Plain data passed between layers: what a case measured, what a run was.

These are frozen dataclasses with ``to_dict``/``from_dict`` so they cross process boundaries
(worker -> runner, runner -> spool file) as JSON without knowing anything of SQL.

Format history (``RESULT_FORMAT``):
  1 - first version: metrics with unit, direction and summary statistics; raw samples kept.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

RESULT_FORMAT = 1

from perfwatch.domain.metrics import DIRECTIONS, HIGHER, LOWER  # noqa: F401  (re-exported: results carry directions)

# Case statuses. "ok" is the only success; every failure is data, never a crashed run.
STATUS_OK = "ok"
STATUS_COMPILE_ERROR = "compile_error"
STATUS_OOM = "oom"
STATUS_TIMEOUT = "timeout"
STATUS_CRASH = "crash"
STATUS_ACCURACY = "accuracy_fail"
STATUS_ERROR = "error"
STATUS_UNSUPPORTED = "unsupported"
CASE_STATUSES = (
    STATUS_OK,
    STATUS_COMPILE_ERROR,
    STATUS_OOM,
    STATUS_TIMEOUT,
    STATUS_CRASH,
    STATUS_ACCURACY,
    STATUS_ERROR,
    STATUS_UNSUPPORTED,
)


@dataclass(frozen=True)
class Metric:
    """One named figure with its unit and which way is better.

    ``value`` is the headline number (the median for timings). ``spread`` is the IQR of the
    samples, ``ci_low``/``ci_high`` a 95% confidence interval of the median, ``n`` the number
    of samples behind it; all four are None for exact figures such as counters.
    """

    name: str
    value: float
    unit: str
    direction: str = LOWER
    spread: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    n: int | None = None
    samples: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if self.direction not in DIRECTIONS:
            raise ValueError(f"metric {self.name}: direction must be one of {DIRECTIONS}")

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        if self.samples is not None:
            d["samples"] = list(self.samples)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Metric":
        d = dict(d)
        if d.get("samples") is not None:
            d["samples"] = tuple(float(x) for x in d["samples"])
        return cls(**d)


@dataclass(frozen=True)
class CaseSpec:
    """What one worker process runs: a benchmark x mode x backend (with parameters)."""

    suite: str
    benchmark: str
    mode: str
    backend: str
    size: str
    dtype: str = "float32"
    params: dict[str, Any] = field(default_factory=dict)
    suite_source: str | None = None  # a file path for user suites, None for registered ones
    min_time_s: float = 1.0
    min_samples: int = 10
    max_samples: int = 1000
    max_time_s: float | None = None  # sample on while imprecise, up to this (None: 5 x min_time_s)
    precision: float = 0.01  # target: the median's block-based 95% CI half-width / median
    threads: int | None = None  # torch.set_num_threads in the worker (None: torch's default)
    accuracy: bool = True
    profile_dir: str | None = None  # --profile: where this case's torch.profiler trace goes
    timing_only: bool = False  # a repeat process (--processes): timing passes only
    build_only: bool = False  # the warm-compile worker (perfwatch/measure/compile_cache.py): the build pass only
    warm_compile: bool = False  # compiled modes: build again over the cold caches (compile_time_warm)
    compile_instructions: bool = False  # --compile-instructions: one more cold build under callgrind
    # --batch-search: the batch pass (perfwatch/collectors/batch.py) for benchmarks with batch_search
    batch_search: bool = False
    batch_search_budget_s: float | None = None  # seconds for the whole search (None: 60 on CPU, 300 on CUDA)
    batch_memory_cap: str | None = None  # canonical cap (perfwatch/domain/batch_cap.py); None: the backend's
    # --reference: where the float64 accuracy reference is built (vocab.REFERENCES; the runner
    # stores the resolved "device" or "cpu"; "cpu" also judges eager cases against it)
    reference: str = "auto"
    # torch.compile keyword arguments for every ctx.compile() of the case (BenchContext.compile_options);
    # set through perfwatch.api, no CLI flag: a case's own call's keywords win over these
    compile_options: dict[str, Any] = field(default_factory=dict)

    def label(self) -> str:
        return f"{self.benchmark}[{self.mode}]"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "CaseSpec":
        return cls(**d)


@dataclass(frozen=True)
class WorkerResult:
    """What a worker process hands the runner (its result file): the case's status and figures.

    ``to_dict`` is the file's JSON: ``{"status", "error", "metrics": [Metric.to_dict()], "details"}``.
    """

    status: str
    error: str | None = None
    metrics: tuple[Metric, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)

    def metric(self, name: str) -> Metric | None:
        return next((m for m in self.metrics if m.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "error": self.error, "metrics": [m.to_dict() for m in self.metrics],
                "details": self.details}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "WorkerResult":
        return cls(status=d["status"], error=d.get("error"),
                   metrics=tuple(Metric.from_dict(m) for m in d.get("metrics") or ()), details=d.get("details") or {})


@dataclass(frozen=True)
class CaseResult:
    """What a case produced: its status, its metrics and details (reasons, paths)."""

    case_id: str
    run_id: str
    spec: CaseSpec
    status: str
    metrics: tuple[Metric, ...] = ()
    error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    started_at: str | None = None  # ISO-8601 UTC
    duration_s: float | None = None

    def metric(self, name: str) -> Metric | None:
        for m in self.metrics:
            if m.name == name:
                return m
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": RESULT_FORMAT,
            "case_id": self.case_id,
            "run_id": self.run_id,
            "spec": self.spec.to_dict(),
            "status": self.status,
            "metrics": [m.to_dict() for m in self.metrics],
            "error": self.error,
            "details": self.details,
            "started_at": self.started_at,
            "duration_s": self.duration_s,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "CaseResult":
        return cls(
            case_id=d["case_id"],
            run_id=d["run_id"],
            spec=CaseSpec.from_dict(d["spec"]),
            status=d["status"],
            metrics=tuple(Metric.from_dict(m) for m in d.get("metrics", ())),
            error=d.get("error"),
            details=d.get("details") or {},
            started_at=d.get("started_at"),
            duration_s=d.get("duration_s"),
        )


@dataclass(frozen=True)
class RunInfo:
    """One invocation of ``perfwatch run``: where, when, on what software."""

    run_id: str
    created_at: str  # ISO-8601 UTC
    suite: str
    backend: str
    size: str
    machine_fingerprint: str
    hostname: str
    environment: dict[str, Any] = field(default_factory=dict)
    git_sha: str | None = None
    git_branch: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    command: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "RunInfo":
        return cls(**d)
