"""Words every layer shares: compile modes, device backends, problem sizes, suite references."""

from __future__ import annotations

import os

MODES = ("eager", "default", "reduce-overhead", "max-autotune")
BACKENDS = ("cpu", "cuda", "mps")
SIZES = ("tiny", "small", "medium", "large")
DEFAULT_SIZE = {"cpu": "tiny", "mps": "small", "cuda": "medium"}
MODE_ORDER = {m: i for i, m in enumerate(MODES)}


def mode_sort_key(mode: str) -> tuple[int, str]:
    return MODE_ORDER.get(mode, len(MODES)), mode


def is_suite_file(name: str) -> bool:
    """A --suite value that names a file (a user suite) rather than a registered suite."""
    return name.endswith(".py") or os.sep in name or "/" in name
