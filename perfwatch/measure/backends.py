"""Device backends: which exist here, and how to wait for one."""

from __future__ import annotations

from perfwatch.domain.errors import BackendUnavailable, UsageError
from perfwatch.domain.vocab import BACKENDS


def available_backends() -> list[str]:
    import torch

    found = ["cpu"]
    if torch.cuda.is_available():
        found.append("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        found.append("mps")
    return found


def resolve_backend(name: str) -> str:
    """'auto' picks cuda, then mps, then cpu; anything else must exist and be usable here."""
    if name != "auto" and name not in BACKENDS:
        raise UsageError(f"unknown backend {name!r}; valid: auto, {', '.join(BACKENDS)}")
    have = available_backends()
    if name == "auto":
        return "cuda" if "cuda" in have else "mps" if "mps" in have else "cpu"
    if name not in have:
        raise BackendUnavailable(f"backend {name!r} is not available on this machine; available: {', '.join(have)} (see `perfwatch env`)")
    return name


def synchronize(device: str) -> None:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()
    elif device == "mps":
        torch.mps.synchronize()
