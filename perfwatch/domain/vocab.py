"""Words every layer shares: compile modes, device backends, problem sizes, suite references."""

from __future__ import annotations

import os

MODES = ("eager", "default", "reduce-overhead", "max-autotune")
BACKENDS = ("cpu", "cuda", "mps")
SIZES = ("tiny", "small", "medium", "large")
DEFAULT_SIZE = {"cpu": "tiny", "mps": "small", "cuda": "medium"}
MODE_ORDER = {m: i for i, m in enumerate(MODES)}
# Where the accuracy pass builds its float64 reference (--reference): "device" is the case's own
# device, "cpu" the CPU (an independent check of the device, eager cases included), "auto" the
# device where it has float64, else the CPU.
REFERENCES = ("auto", "device", "cpu")
NO_FLOAT64 = ("mps",)  # backends without float64: Apple's MPS


def resolve_reference(requested: str, backend: str) -> str:
    """The placement a --reference value means on ``backend``: "device" or "cpu"."""
    if requested == "auto":
        return "cpu" if backend in NO_FLOAT64 else "device"
    if requested not in REFERENCES:
        raise ValueError(f"reference must be one of {', '.join(REFERENCES)}, got {requested!r}")
    return requested


def mode_sort_key(mode: str) -> tuple[int, str]:
    return MODE_ORDER.get(mode, len(MODES)), mode


def is_suite_file(name: str) -> bool:
    """A --suite value that names a file (a user suite) rather than a registered suite."""
    return name.endswith(".py") or os.sep in name or "/" in name
