"""SQLAlchemy 2 models of the results store.

The schema is *built* only by the Alembic migrations in db/migrations/; these models describe it
for queries, and a test checks that the two agree.

A series (what compares like with like) is its own row, so a metric's history is one index range
scan: ``measurements(series_id, created_at)``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# BIGINT on Postgres, INTEGER (the rowid alias, so autoincrement works) on SQLite.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    pass


class Machine(Base):
    __tablename__ = "machines"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    fingerprint: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    hostname: Mapped[str | None] = mapped_column(String(255))
    cpu: Mapped[str | None] = mapped_column(String(255))
    gpu: Mapped[str | None] = mapped_column(String(255))
    info: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    first_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class Run(Base):
    __tablename__ = "runs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, index=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    machine_id: Mapped[int] = mapped_column(ForeignKey("machines.id"), nullable=False, index=True)
    suite: Mapped[str] = mapped_column(String(255), nullable=False)
    backend: Mapped[str] = mapped_column(String(16), nullable=False)
    size: Mapped[str] = mapped_column(String(32), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)  # running | finished
    cases_total: Mapped[int | None] = mapped_column(Integer)
    cases_failed: Mapped[int | None] = mapped_column(Integer)
    git_sha: Mapped[str | None] = mapped_column(String(64))
    git_branch: Mapped[str | None] = mapped_column(String(255))
    torch_version: Mapped[str | None] = mapped_column(String(64))
    perfwatch_version: Mapped[str | None] = mapped_column(String(32))
    command: Mapped[str | None] = mapped_column(Text)
    tags: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    environment: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class Case(Base):
    __tablename__ = "cases"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), nullable=False, index=True)
    benchmark: Mapped[str] = mapped_column(String(255), nullable=False)
    mode: Mapped[str] = mapped_column(String(32), nullable=False)
    backend: Mapped[str] = mapped_column(String(16), nullable=False)
    dtype: Mapped[str] = mapped_column(String(32), nullable=False)
    params: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    params_key: Mapped[str] = mapped_column(String(255), nullable=False)
    status: Mapped[str] = mapped_column(String(32), nullable=False)
    error: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    duration_s: Mapped[float | None] = mapped_column(Float)


class Series(Base):
    __tablename__ = "series"
    __table_args__ = (Index("ix_series_lookup", "suite", "benchmark", "mode", "backend", "metric"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    machine_id: Mapped[int] = mapped_column(ForeignKey("machines.id"), nullable=False)
    suite: Mapped[str] = mapped_column(String(255), nullable=False)
    benchmark: Mapped[str] = mapped_column(String(255), nullable=False)
    mode: Mapped[str] = mapped_column(String(32), nullable=False)
    backend: Mapped[str] = mapped_column(String(16), nullable=False)
    dtype: Mapped[str] = mapped_column(String(32), nullable=False)
    params_key: Mapped[str] = mapped_column(String(255), nullable=False)
    metric: Mapped[str] = mapped_column(String(128), nullable=False)
    unit: Mapped[str] = mapped_column(String(32), nullable=False)
    direction: Mapped[str] = mapped_column(String(20), nullable=False)


class Measurement(Base):
    __tablename__ = "measurements"
    __table_args__ = (
        Index("ix_measurements_series_time", "series_id", "created_at"),
        Index("ix_measurements_run", "run_id"),
        Index("ix_measurements_case", "case_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), nullable=False)
    # run_id and created_at repeat the case's run so history and run queries need no join.
    run_id: Mapped[str] = mapped_column(String(32), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    series_id: Mapped[int] = mapped_column(ForeignKey("series.id"), nullable=False)
    value: Mapped[float] = mapped_column(Float, nullable=False)
    spread: Mapped[float | None] = mapped_column(Float)
    ci_low: Mapped[float | None] = mapped_column(Float)
    ci_high: Mapped[float | None] = mapped_column(Float)
    n: Mapped[int | None] = mapped_column(Integer)


class Sample(Base):
    """Raw samples behind a measurement (step times), kept for re-analysis and compare."""

    __tablename__ = "samples"

    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True)
    metric: Mapped[str] = mapped_column(String(128), primary_key=True)
    values: Mapped[list[float]] = mapped_column(JSON, nullable=False)


class Regression(Base):
    """A detected regression of one series, first seen at ``run_id``.

    ``state`` is open, acknowledged or resolved; alerts and the dashboard share it.
    ``announced_at``/``resolved_announced_at``: when Slack got it (kept for readers of 0002's
    schema and still written for Slack); what each channel was sent is in ``announcements``.
    """

    __tablename__ = "regressions"
    __table_args__ = (
        UniqueConstraint("series_id", "run_id", name="uq_regressions_series_run"),
        Index("ix_regressions_state", "state", "ts"),
        Index("ix_regressions_run", "run_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    series_id: Mapped[int] = mapped_column(ForeignKey("series.id"), nullable=False)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), nullable=False)
    ts: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    raised_run_id: Mapped[str | None] = mapped_column(String(32))
    detected_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    before: Mapped[float] = mapped_column(Float, nullable=False)
    after: Mapped[float] = mapped_column(Float, nullable=False)
    change: Mapped[float] = mapped_column(Float, nullable=False)
    pvalue: Mapped[float] = mapped_column(Float, nullable=False)
    state: Mapped[str] = mapped_column(String(16), nullable=False)
    note: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    announced_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_announced_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Announcement(Base):
    """A regression (kind ``raised``) or its resolution (``resolved``) delivered on one alert
    channel; the key makes a second mark a no-op, so each channel announces each thing once."""

    __tablename__ = "announcements"
    __table_args__ = (PrimaryKeyConstraint("regression_id", "channel", "kind", name="pk_announcements"),)

    regression_id: Mapped[int] = mapped_column(ForeignKey("regressions.id", ondelete="CASCADE"), nullable=False)
    channel: Mapped[str] = mapped_column(String(32), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    announced_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class GateVerdict(Base):
    """The gate's verdict on one series in one run (perfwatch.analysis.gate): regression, same,
    too_noisy, no_baseline, ... with ``detectable``, the smallest change it could have seen."""

    __tablename__ = "verdicts"

    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    series_id: Mapped[int] = mapped_column(ForeignKey("series.id"), primary_key=True)
    verdict: Mapped[str] = mapped_column(String(24), nullable=False)
    before: Mapped[float | None] = mapped_column(Float)
    after: Mapped[float] = mapped_column(Float, nullable=False)
    change: Mapped[float | None] = mapped_column(Float)
    pvalue: Mapped[float | None] = mapped_column(Float)
    detectable: Mapped[float | None] = mapped_column(Float)
    noise: Mapped[float | None] = mapped_column(Float)
    noise_source: Mapped[str | None] = mapped_column(String(16))
    baseline_runs: Mapped[int] = mapped_column(Integer, nullable=False)
    note: Mapped[str | None] = mapped_column(Text)
