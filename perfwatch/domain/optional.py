"""Optional integrations are extras, imported lazily: one helper, one error, one message.

    torch_tb = require("torch_tb_profiler", extra="profiler")

raises ``MissingExtra`` (a ``UsageError``, exit 2) naming the pip command that installs it.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

from perfwatch.domain.errors import MissingExtra

# extra -> the distributions it installs (pyproject.toml's [project.optional-dependencies])
EXTRAS = {
    "postgres": ("psycopg",),
    "dashboard": ("streamlit", "altair", "pandas"),
    "profiler": ("torch_tb_profiler",),
    "asv": ("asv",),
    "uvm": ("cupti",),
}


def install_hint(extra: str) -> str:
    return f"pip install 'perfwatch[{extra}]'"


def missing(extra: str) -> list[str]:
    """The modules of ``extra`` that cannot be found (without importing them)."""
    return [m for m in EXTRAS[extra] if importlib.util.find_spec(m) is None]


def require(module: str, extra: str, what: str | None = None) -> ModuleType:
    """Import ``module`` or raise MissingExtra saying which extra brings it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtra(f"{what or module} is not installed ({exc.name or module}); install it with: "
                           f"{install_hint(extra)}") from None


def require_extra(extra: str, what: str | None = None) -> None:
    """Check every module of ``extra`` is installed, without importing them."""
    gone = missing(extra)
    if gone:
        raise MissingExtra(f"{what or extra} needs {', '.join(gone)}, not installed; install it with: "
                           f"{install_hint(extra)}")
