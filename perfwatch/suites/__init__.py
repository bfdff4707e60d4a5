"""Finding suites: built in, from a file, or registered under the ``perfwatch.suites`` entry point.

A suite module (built-in, a user's file, or an entry point target) exposes ``SUITE``, a
:class:`perfwatch.suites.base.Suite`. An entry point may also point straight at a Suite object
or at a function returning one.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from importlib import metadata
from typing import Any

from perfwatch.domain.errors import SuiteError
from perfwatch.domain.vocab import is_suite_file  # noqa: F401  (re-exported)
from perfwatch.suites.base import Suite

BUILTIN = {
    "llm": "perfwatch.suites.llm",
    "vision": "perfwatch.suites.vision",
    "ops": "perfwatch.suites.ops",
    "dynamic": "perfwatch.suites.dynamic",
    "uvm": "perfwatch.suites.uvm",
    "numerics": "perfwatch.suites.numerics",
    "pipeline": "perfwatch.suites.pipeline",
}
ENTRY_POINT_GROUP = "perfwatch.suites"


def _as_suite(obj: Any, origin: str) -> Suite:
    if hasattr(obj, "SUITE"):
        obj = obj.SUITE
    if callable(obj) and not isinstance(obj, Suite):
        try:
            obj = obj()
        except SystemExit as exc:
            raise SuiteError(f"{origin}: building the suite called sys.exit({exc.code!r})") from None
        except Exception as exc:  # the user's code
            raise SuiteError(f"{origin}: building the suite failed: {type(exc).__name__}: {exc}") from exc
    if not isinstance(obj, Suite):
        raise SuiteError(f"{origin} does not define a perfwatch Suite (expected SUITE = Suite(...))")
    return obj


def _entry_points() -> dict[str, metadata.EntryPoint]:
    return {ep.name: ep for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)}


def load_suite_file(path: str) -> Suite:
    if not os.path.isfile(path):
        raise SuiteError(f"suite file not found: {path}")
    mod_name = "perfwatch_user_suite_" + os.path.splitext(os.path.basename(path))[0].replace("-", "_")
    spec = importlib.util.spec_from_file_location(mod_name, path)
    if spec is None or spec.loader is None:
        raise SuiteError(f"cannot import suite file {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module
    # Let the suite import its neighbours, as a script run from its directory could.
    folder = os.path.dirname(os.path.abspath(path))
    if folder not in sys.path:
        sys.path.insert(0, folder)
    try:
        spec.loader.exec_module(module)
    except SystemExit as exc:  # sys.exit() at import would end perfwatch itself, silently, with its code
        sys.modules.pop(mod_name, None)
        raise SuiteError(f"suite file {path} called sys.exit({exc.code!r}) while being imported; "
                         "a suite module must only define SUITE") from None
    except Exception as exc:  # the user's code: any error is theirs to see
        sys.modules.pop(mod_name, None)
        raise SuiteError(f"suite file {path} failed to import: {type(exc).__name__}: {exc}") from exc
    return _as_suite(module, path)


def available() -> list[str]:
    """Names a user can pass to --suite (files aside)."""
    return sorted(set(BUILTIN) | set(_entry_points()))


def load_suite(name: str) -> Suite:
    """Load a suite by built-in name, entry-point name or file path."""
    if is_suite_file(name):
        return load_suite_file(name)
    if name in BUILTIN:
        return _as_suite(importlib.import_module(BUILTIN[name]), name)
    eps = _entry_points()
    if name in eps:
        try:
            obj = eps[name].load()
        except SystemExit as exc:
            raise SuiteError(f"suite entry point {name!r} called sys.exit({exc.code!r}) while loading") from None
        except Exception as exc:
            raise SuiteError(f"suite entry point {name!r} failed to load: {exc}") from exc
        return _as_suite(obj, f"entry point {name!r}")
    raise SuiteError(f"unknown suite {name!r}; available: {', '.join(available())} (or a path to a .py file)")
