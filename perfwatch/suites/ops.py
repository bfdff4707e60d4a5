"""Ops suite: single operators and one fusible pointwise chain.

Compute-bound ops (matmul, sdpa, conv2d) report FLOP/s; memory-bound ones report elements/s.
Outputs are not cloned: a copy would cost as much as the op being measured.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from perfwatch.suites.base import BenchContext, Benchmark, Suite, Workload

# (rows, hidden) for the row-wise / pointwise ops.
_ROWS = dict(tiny=(64, 32), small=(8192, 1024), medium=(16384, 4096), large=(65536, 8192))


def _randn(ctx: BenchContext, *shape: int, scale: float = 1.0) -> torch.Tensor:
    # Drawn in float32, then cast: a float64 build gets the same values.
    return (torch.randn(*shape, device=ctx.device) * scale).to(ctx.torch_dtype)


def _op_workload(ctx: BenchContext, fn, args: tuple, items: float, unit: str) -> Workload:
    op = ctx.compile(fn)

    @torch.no_grad()
    def step() -> torch.Tensor:
        with ctx.autocast():
            return op(*args)

    return Workload(step=step, items_per_step=items, item_unit=unit)


# Ops are wrapped in module-level Python functions: dynamo compiles Python frames, and a bare
# builtin such as torch.matmul has none.
def _matmul(a, b):
    return a @ b


def build_matmul(ctx: BenchContext) -> Workload:
    ctx.seed_all()
    n = ctx.pick(tiny=64, small=1024, medium=4096, large=8192)
    a, b = _randn(ctx, n, n), _randn(ctx, n, n, scale=1 / math.sqrt(n))
    return _op_workload(ctx, _matmul, (a, b), 2 * n**3, "FLOP")


def _layer_norm(x, w, b):
    return F.layer_norm(x, x.shape[-1:], w, b)


def build_layer_norm(ctx: BenchContext) -> Workload:
    ctx.seed_all()
    rows, hidden = ctx.pick(**_ROWS)
    x, w, b = _randn(ctx, rows, hidden), _randn(ctx, hidden), _randn(ctx, hidden)
    return _op_workload(ctx, _layer_norm, (x, w, b), rows * hidden, "elements")


def _softmax(x):
    return torch.softmax(x, dim=-1)


def build_softmax(ctx: BenchContext) -> Workload:
    ctx.seed_all()
    rows, hidden = ctx.pick(**_ROWS)
    x = _randn(ctx, rows, hidden)
    return _op_workload(ctx, _softmax, (x,), rows * hidden, "elements")


def _causal_sdpa(q, k, v):
    return F.scaled_dot_product_attention(q, k, v, is_causal=True)


def build_sdpa(ctx: BenchContext) -> Workload:
    ctx.seed_all()
    b, h, s, d = ctx.pick(
        tiny=(2, 2, 16, 16), small=(8, 8, 512, 64), medium=(16, 16, 1024, 64), large=(4, 16, 4096, 128)
    )
    q, k, v = (_randn(ctx, b, h, s, d) for _ in range(3))
    # QK^T and PV are 2*b*h*s*s*d FLOP each; causal masking skips half of both.
    return _op_workload(ctx, _causal_sdpa, (q, k, v), 2 * b * h * s * s * d, "FLOP")


def _conv3x3(x, w, bias):
    return F.conv2d(x, w, bias, stride=1, padding=1)


def build_conv2d(ctx: BenchContext) -> Workload:
    ctx.seed_all()
    n, cin, cout, hw = ctx.pick(
        tiny=(2, 8, 16, 16), small=(32, 64, 64, 56), medium=(64, 128, 128, 56), large=(128, 256, 256, 56)
    )
    x = _randn(ctx, n, cin, hw, hw)
    w = _randn(ctx, cout, cin, 3, 3, scale=1 / math.sqrt(cin * 9))
    bias = _randn(ctx, cout)
    flop = 2 * n * cout * hw * hw * cin * 9  # stride 1, padding 1: output is hw x hw
    return _op_workload(ctx, _conv3x3, (x, w, bias), flop, "FLOP")


def _pointwise_chain(x, bias, scale):
    # Five elementwise ops: eager launches one kernel each, Inductor fuses them into one.
    return F.gelu(x * torch.sigmoid(x) + bias) * scale


def build_pointwise_chain(ctx: BenchContext) -> Workload:
    ctx.seed_all()
    rows, hidden = ctx.pick(**_ROWS)
    x, bias, scale = _randn(ctx, rows, hidden), _randn(ctx, hidden), _randn(ctx, hidden)
    return _op_workload(ctx, _pointwise_chain, (x, bias, scale), rows * hidden, "elements")


SUITE = Suite(
    name="ops",
    description="Single operators (matmul, layer_norm, softmax, sdpa, conv2d) and a fusible pointwise chain.",
    benchmarks=(
        Benchmark("matmul", build_matmul, "square n x n matmul (FLOP/s)"),
        Benchmark("layer_norm", build_layer_norm, "layer_norm over the last dim, with affine (elements/s)"),
        Benchmark("softmax", build_softmax, "softmax over the last dim (elements/s)"),
        Benchmark("sdpa", build_sdpa, "causal scaled_dot_product_attention (FLOP/s, causal half counted)"),
        Benchmark("conv2d", build_conv2d, "3x3 conv, stride 1, padding 1, with bias (FLOP/s)"),
        Benchmark("pointwise_chain", build_pointwise_chain, "gelu(x * sigmoid(x) + bias) * scale (elements/s)"),
    ),
)
