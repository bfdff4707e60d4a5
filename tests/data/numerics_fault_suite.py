"""The numerics suite with an MPS-like fault planted: in-place ``addcmul_`` and ``lerp_`` on a
non-contiguous float32 tensor return without writing anything, as Apple's MPS kernels once did.

The fault is float32 only, so the float64 reference build is unaffected: exactly the situation
of a real device whose float64 reference has to be built elsewhere. It is installed by each
benchmark's build, so only in the worker that builds a case (never in the runner that merely
loads this file); NUMERICS_FAULT=0 builds the same suite without it.
"""

import os
from dataclasses import replace

import torch

from perfwatch.suites.base import Suite
from perfwatch.suites.numerics import SUITE as NUMERICS

_REAL = {name: getattr(torch.Tensor, name) for name in ("addcmul_", "lerp_")}


def _skips_strided_writes(name):
    real = _REAL[name]

    def faulty(self, *args, **kwargs):
        if self.dtype == torch.float32 and not self.is_contiguous():
            return self  # "done", and nothing written
        return real(self, *args, **kwargs)

    faulty.__name__ = name
    return faulty


def plant_fault() -> None:
    if os.environ.get("NUMERICS_FAULT", "1") != "0":
        for name in _REAL:
            setattr(torch.Tensor, name, _skips_strided_writes(name))


def _with_fault(build):
    def faulty_build(ctx):
        plant_fault()
        return build(ctx)

    return faulty_build


SUITE = Suite(name="numerics_fault", description="numerics with a planted MPS-like fault",
              benchmarks=tuple(replace(b, build=_with_fault(b.build)) for b in NUMERICS.benchmarks))
