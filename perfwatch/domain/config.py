"""Configuration: CLI flag > PERFWATCH_* environment variable > file > default.

The file is ``[tool.perfwatch]`` in the nearest pyproject.toml or a ``perfwatch.toml`` in the
current directory (the latter wins). Values are validated when loaded, not at first use, so a
typo fails before anything runs (exit 2).
"""

from __future__ import annotations

import math
import os
import re
import sys
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from perfwatch.domain.errors import ConfigError
from perfwatch.domain.vocab import REFERENCES

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


def default_home() -> Path:
    """Where perfwatch keeps its default SQLite file and spool: PERFWATCH_HOME or XDG data dir."""
    if os.environ.get("PERFWATCH_HOME"):
        return Path(os.environ["PERFWATCH_HOME"]).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "perfwatch"


@dataclass(frozen=True)
class Config:
    db_url: str | None = None  # None: the default SQLite file under default_home()
    timeout_s: float = 900.0  # per case, compile included
    min_time_s: float = 1.0  # timed samples collected for at least this long per case
    min_samples: int = 10
    max_samples: int = 1000
    max_time_s: float | None = None  # a noisy step is sampled on up to this long (None: 5 x min_time_s)
    precision: float = 0.01  # ...until its median's 95% CI is within +-precision (relative)
    processes: int = 1  # fresh worker processes per case; the step time is the median of their medians
    threads: int | None = None  # torch intra-op threads per worker (None: torch's default, one per core)
    interleave: bool = False  # with processes > 1: a case's processes spread over the run, round by round
    warm_compile: bool = True  # compiled modes: a build-only worker over the cold compile's caches
    batch_search: bool = False  # train benchmarks: the largest batch that fits and throughput by batch
    batch_search_budget_s: float | None = None  # seconds per case for the search (None: 60 on CPU, 300 on CUDA)
    batch_memory_cap: str | None = None  # a size (256MiB) or a fraction (0.5); None: 256MiB on CPU, 0.5 on CUDA
    reference: str = "auto"  # where the float64 accuracy reference is built: auto, device or cpu
    spool_dir: str | None = None
    slack_webhook: str | None = None
    webhook_url: str | None = None  # the generic JSON webhook alert channel ($PERFWATCH_WEBHOOK_URL)
    dashboard_url: str | None = None

    def resolved_db_url(self) -> str:
        if self.db_url:
            return self.db_url
        return "sqlite:///" + str(default_home() / "perfwatch.db")

    def resolved_spool_dir(self) -> Path:
        return Path(self.spool_dir).expanduser() if self.spool_dir else default_home() / "spool"


_FIELDS = {f.name: f for f in fields(Config)}
_ENV = {name: "PERFWATCH_" + name.upper() for name in _FIELDS}
_ENV["slack_webhook"] = "PERFWATCH_SLACK_WEBHOOK"
# The command-line flags whose names differ from their settings', for messages that name them.
_FLAGS = {"db_url": "--db", "timeout_s": "--timeout", "min_time_s": "--min-time", "max_time_s": "--max-time",
          "batch_search_budget_s": "--batch-search-budget"}


# Bounds of the numeric settings: (lowest, highest, whether the highest is excluded). Every one
# must also be finite: an infinite timeout would never kill a hung case, a NaN compares false
# everywhere and so silently disables whatever check reads it.
_RANGES: dict[str, tuple[float, float | None, str]] = {
    "timeout_s": (0, None, "a number of seconds > 0"),
    "min_time_s": (0, None, "a number of seconds > 0"),
    "max_time_s": (0, None, "a number of seconds > 0"),
    "precision": (0, 1, "a fraction: 0.01 means +-1%"),
    "min_samples": (1, None, "a whole number >= 1"),
    "max_samples": (1, None, "a whole number >= 1"),
    "processes": (1, None, "a whole number >= 1"),
    "threads": (1, None, "a whole number >= 1"),
    "batch_search_budget_s": (0, None, "a number of seconds > 0"),
}
# Settings that take one of a few words; checked here for the file and PERFWATCH_* alike.
_CHOICES: dict[str, tuple[str, ...]] = {"reference": REFERENCES}


def _coerce(name: str, value: Any, origin: str) -> Any:
    kind = _FIELDS[name].type
    if kind == "bool":
        return _coerce_bool(name, value, origin)
    if name == "batch_memory_cap" and value is not None:  # a size or a fraction, as text or a TOML number
        from perfwatch.domain.batch_cap import parse_cap

        try:
            parse_cap(value if not isinstance(value, bool) else "")
        except ValueError as exc:
            raise ConfigError(f"{origin}: {name} = {value!r} is invalid ({exc})") from None
        return str(value)
    if "float" in kind or "int" in kind:
        try:
            return _number(name, value, whole="int" in kind)
        except (TypeError, ValueError, OverflowError) as exc:
            raise ConfigError(f"{origin}: {name} = {value!r} is invalid ({exc})") from None
    if value is not None and not isinstance(value, str):
        raise ConfigError(f"{origin}: {name} must be a string, got {value!r}")
    if isinstance(value, str) and "\x00" in value:
        raise ConfigError(f"{origin}: {name} contains a NUL byte")
    if name in _CHOICES and value not in _CHOICES[name]:
        raise ConfigError(f"{origin}: {name} = {value!r} is invalid (expected one of {', '.join(_CHOICES[name])})")
    return value


def _number(name: str, value: Any, whole: bool) -> float | int:
    # bool is an int to Python, but `timeout_s = true` in a TOML file is a mistake, not 1 s
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise TypeError("expected a number")
    if whole:
        if isinstance(value, float):  # `processes = 2.7` must not quietly become 2
            raise ValueError("expected a whole number")
        v: float | int = int(value)
    else:
        v = float(value)
        if not math.isfinite(v):
            raise ValueError("must be a finite number")
    low, high, what = _RANGES.get(name, (0, None, "a number > 0"))
    if whole and v < low:
        raise ValueError(f"must be >= {low}" if low != 1 else "must be > 0")
    if not whole and v <= low:
        raise ValueError("must be > 0")
    if high is not None and v >= high:
        raise ValueError(what)
    return v


_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no")


def _coerce_bool(name: str, value: Any, origin: str) -> bool:
    if isinstance(value, bool):
        return value
    text = value.strip().lower() if isinstance(value, str) else None  # TOML's 1 is a number, not a yes
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    raise ConfigError(f"{origin}: {name} = {value!r} is invalid (expected true/false, 1/0 or yes/no)")


def _file_values(cwd: Path) -> tuple[dict[str, Any], str]:
    own = cwd / "perfwatch.toml"
    if own.is_file():
        return _read_toml(own, None), str(own)
    for d in (cwd, *cwd.parents):
        pp = d / "pyproject.toml"
        if pp.is_file():
            return _read_toml(pp, ("tool", "perfwatch")), f"{pp} [tool.perfwatch]"
    return {}, ""


def _read_toml(path: Path, table: tuple[str, ...] | None) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    except UnicodeDecodeError:  # a binary file, or one saved in another encoding: TOML is UTF-8
        raise ConfigError(f"cannot read {path}: not a UTF-8 text file (TOML must be UTF-8)") from None
    for i, key in enumerate(table or ()):
        data = data.get(key, {})
        if not isinstance(data, dict):  # `tool = 5` or `[[tool.perfwatch]]`
            raise ConfigError(f"{path}: [{'.'.join((table or ())[:i + 1])}] must be a table, got {data!r}")
    return {k.replace("-", "_"): v for k, v in data.items()}


def load_config(overrides: dict[str, Any] | None = None, cwd: Path | None = None) -> Config:
    """Build the effective configuration; ``overrides`` are CLI flags (None means unset)."""
    values: dict[str, Any] = {}
    file_vals, origin = _file_values(cwd or Path.cwd())
    for k, v in file_vals.items():
        if k not in _FIELDS:
            raise ConfigError(f"{origin}: unknown setting {k!r}; known: {', '.join(sorted(_FIELDS))}")
        values[k] = _coerce(k, v, origin)
    for name, env in _ENV.items():
        if os.environ.get(env):
            values[name] = _coerce(name, os.environ[env], f"environment {env}")
    for k, v in (overrides or {}).items():
        if v is not None:
            values[k] = _coerce(k, v, _FLAGS.get(k, f"--{k.replace('_', '-')}"))
    cfg = replace(Config(), **values)
    if cfg.min_samples > cfg.max_samples:
        raise ConfigError(f"min_samples ({cfg.min_samples}) is more than max_samples ({cfg.max_samples})")
    return cfg


def redact(url: str) -> str:
    """The URL with any password hidden, fit for messages and logs.

    Everything between ``user:`` and the *last* ``@`` goes: a password with an unencoded ``@``
    (which SQLAlchemy splits at the first one) must not leave a fragment behind. A password
    given as a query parameter (``?password=...``) is hidden too. An ordinary URL's redacted
    form is unchanged from earlier releases, which matters: the spool file's name is its hash.
    """
    url = re.sub(r"(://[^:/@]*):.*@", r"\1:***@", url, flags=re.DOTALL)
    return re.sub(r"([?&](?:password|passwd|pwd)=)[^&]*", r"\1***", url, flags=re.IGNORECASE)
