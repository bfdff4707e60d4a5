"""Numerics suite: the kernels a backend can get silently wrong, with outputs that show it.

On Apple's MPS backend some in-place kernels once did nothing when their output was not
contiguous: optimizer state stopped updating, nothing raised, and it took days to find. These
benchmarks write into exactly such outputs (transposed views, strided slices, ``out=`` into
slices, channels-last tensors, optimizer state of transposed parameters) and every step returns
what was written, so a write that never happened is an output that differs. Run them with
``--reference cpu`` (``auto`` on MPS) and even the eager cases are judged against a float64
build on the CPU (docs/suites.md, Tolerances).

Every random value is drawn on the CPU, in float32, and then moved and cast: a build on another
device, or in float64, holds the very same values (the CPU's generator is not the device's).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from perfwatch.suites.base import BenchContext, Benchmark, Suite, Workload

# Adam's update divides by sqrt(exp_avg_sq) + eps: where a gradient is near eps, float32 rounding
# of it is amplified, and through the next step's gradient so is every later difference. With
# torch's eps (1e-8) and lr 1e-2, float32 at size small was 1e-2 (relative) from float64 after
# two steps: beyond any useful tolerance. eps 1e-6 and lr 1e-3 keep it near 1e-5, while a skipped
# update (lr, against weights of about 0.1) and a stuck state (relative error 1) stay far beyond it.
LR, B1, B2, EPS = 1e-3, 0.9, 0.999, 1e-6


def _randn(ctx: BenchContext, *shape: int, scale: float = 1.0) -> torch.Tensor:
    # on the CPU in float32, then moved and cast: the same values on every device and dtype
    return (torch.randn(*shape) * scale).to(device=ctx.device, dtype=ctx.torch_dtype)


def _dims(ctx: BenchContext) -> tuple[int, int, int]:
    """(rows, in, out): tiny for CPU tests, GPU-sized above."""
    return ctx.pick(tiny=(8, 16, 24), small=(512, 1024, 1024), medium=(2048, 2048, 2048), large=(4096, 4096, 4096))


# --- in-place pointwise ops on a transposed view -------------------------------------------------

def _inplace_update(s, x, y, d):
    # every in-place op a hand-written optimizer uses, on a state that is a transposed view
    s.mul_(0.9).add_(x, alpha=0.1)
    s.addcmul_(x, y, value=0.05)
    s.addcdiv_(x, d, value=0.01)
    s.lerp_(y, 0.1)
    return s


def build_inplace_transposed(ctx: BenchContext) -> Workload:
    ctx.seed_all()
    rows, cols, _ = _dims(ctx)
    state = _randn(ctx, cols, rows).t()  # (rows, cols), column-major: not contiguous
    x, y = _randn(ctx, rows, cols), _randn(ctx, rows, cols)
    d = _randn(ctx, rows, cols).abs_().add_(0.5)  # a divisor away from zero
    update = ctx.compile(_inplace_update)

    @torch.no_grad()
    def step() -> torch.Tensor:
        update(state, x, y, d)
        return state.clone()  # the state itself: it carries every earlier step's writes

    return Workload(step=step, items_per_step=rows * cols, item_unit="elements")


# --- out= into slices and strided views -----------------------------------------------------------

def _write_views(x, y, a, b, buf, sq):
    torch.mul(x, y, out=buf[:, 0::2])  # every second column: strided, not contiguous
    torch.add(x, y, alpha=0.5, out=buf[:, 1::2])
    torch.mm(a, b, out=sq.t())  # a matmul into a transposed view
    half = x.shape[1] // 2
    torch.sigmoid(x[1::2, :half], out=buf[1::2, :half])  # every second row of a slice: strided both ways
    return buf, sq


def build_out_into_views(ctx: BenchContext) -> Workload:
    ctx.seed_all()
    rows, cols, _ = _dims(ctx)
    x, y = _randn(ctx, rows, cols), _randn(ctx, rows, cols)
    a, b = _randn(ctx, rows, cols), _randn(ctx, cols, rows, scale=cols ** -0.5)
    buf = torch.zeros(rows, 2 * cols, device=ctx.device, dtype=ctx.torch_dtype)
    sq = torch.zeros(rows, rows, device=ctx.device, dtype=ctx.torch_dtype)
    write = ctx.compile(_write_views)

    @torch.no_grad()
    def step() -> tuple[torch.Tensor, torch.Tensor]:
        buf.zero_()  # a write that never happens leaves zeros, not the last step's values
        sq.zero_()
        write(x, y, a, b, buf, sq)
        return buf.clone(), sq.clone()

    return Workload(step=step, items_per_step=rows * 2 * cols + rows * rows, item_unit="elements")


# --- channels-last convolution --------------------------------------------------------------------

def _conv_scale(x, w, bias, scale):
    out = F.conv2d(x, w, bias, padding=1)
    return out.mul_(scale).relu_()  # in place on a channels-last output


def build_conv_channels_last(ctx: BenchContext) -> Workload:
    ctx.seed_all()
    n, c, hw = ctx.pick(tiny=(2, 8, 8), small=(32, 64, 56), medium=(64, 128, 56), large=(128, 256, 56))
    x = _randn(ctx, n, c, hw, hw).contiguous(memory_format=torch.channels_last)
    w = _randn(ctx, c, c, 3, 3, scale=(c * 9) ** -0.5).contiguous(memory_format=torch.channels_last)
    bias, scale = _randn(ctx, c), _randn(ctx, 1, c, 1, 1)
    conv = ctx.compile(_conv_scale)

    @torch.no_grad()
    def step() -> torch.Tensor:
        return conv(x, w, bias, scale).clone()

    return Workload(step=step, items_per_step=2 * n * c * c * 9 * hw * hw, item_unit="FLOP")


# --- a hand-written Adam on transposed parameters -------------------------------------------------

def _adam_update(p, g, m, v, t):
    # torch.optim's single-tensor Adam, op for op; t is a tensor so a compiled update never recompiles
    m.lerp_(g, 1 - B1)
    v.mul_(B2).addcmul_(g, g, value=1 - B2)
    denom = (v / (1 - B2 ** t)).sqrt_().add_(EPS)
    p.addcdiv_(m / (1 - B1 ** t), denom, value=-LR)


def _mse(x, w, target):
    return ((x @ w - target) ** 2).mean()


def build_adam_transposed(ctx: BenchContext) -> Workload:
    ctx.seed_all()
    rows, fin, fout = _dims(ctx)
    w = torch.nn.Parameter(_randn(ctx, fout, fin, scale=fin ** -0.5).t())  # (fin, fout), a transposed view
    x, target = _randn(ctx, rows, fin), _randn(ctx, rows, fout)
    m, v = torch.zeros_like(w), torch.zeros_like(w)  # zeros_like keeps the strides: transposed state too
    t = torch.zeros((), device=ctx.device, dtype=ctx.torch_dtype)
    loss_fn, update = ctx.compile(_mse), ctx.compile(_adam_update)

    def step() -> dict[str, torch.Tensor]:
        w.grad = None
        loss = loss_fn(x, w, target)
        loss.backward()
        with torch.no_grad():
            t.add_(1)
            update(w, w.grad, m, v, t)
        return {"loss": loss.detach().clone(), "param": w.detach().clone(), "exp_avg": m.clone(),
                "exp_avg_sq": v.clone()}

    return Workload(step=step, items_per_step=rows, item_unit="samples")


# --- torch.optim Adam / AdamW, foreach on and off -------------------------------------------------

def build_optimizer(ctx: BenchContext) -> Workload:
    ctx.seed_all()
    rows, fin, fout = _dims(ctx)
    params = [torch.nn.Parameter(_randn(ctx, fout, fin, scale=fin ** -0.5).t()),  # transposed: not contiguous
              torch.nn.Parameter(_randn(ctx, 2 * fout)[::2])]  # every second element: strided
    x, target = _randn(ctx, rows, fin), _randn(ctx, rows, fout)
    cls = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[ctx.params["optimizer"]]
    # capturable on CUDA: the step counters stay on the GPU and the step captures (graph_time)
    opt = cls(params, lr=LR, betas=(B1, B2), eps=EPS, foreach=ctx.params["foreach"], capturable=ctx.device == "cuda")
    loss_fn = ctx.compile(lambda x, target: ((x @ params[0] + params[1] - target) ** 2).mean())
    opt_step = ctx.compile(lambda: opt.step())

    def step() -> dict[str, torch.Tensor]:
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(x, target)
        loss.backward()
        opt_step()
        out = {"loss": loss.detach().clone()}
        for i, p in enumerate(params):  # the state itself: a stuck exp_avg_sq is an output that differs
            out[f"param{i}"] = p.detach().clone()
            out[f"exp_avg{i}"] = opt.state[p]["exp_avg"].clone()
            out[f"exp_avg_sq{i}"] = opt.state[p]["exp_avg_sq"].clone()
        return out

    return Workload(step=step, items_per_step=rows, item_unit="samples")


def _optim(name: str, foreach: bool) -> Benchmark:
    return Benchmark(f"{name}_{'foreach' if foreach else 'single'}", build_optimizer,
                     f"torch.optim.{'AdamW' if name == 'adamw' else 'Adam'} (foreach={foreach}) on transposed and "
                     "strided parameters; returns params, exp_avg, exp_avg_sq",
                     params={"optimizer": name, "foreach": foreach}, amp_on_cuda=False)


SUITE = Suite(
    name="numerics",
    description="Writes a backend can silently skip: non-contiguous outputs, channels-last, optimizer state.",
    # float32 throughout (amp_on_cuda=False): bf16 would hide what is checked, and eager cases are
    # judged against the float64 reference only at float32 precision
    benchmarks=(
        Benchmark("inplace_transposed", build_inplace_transposed,
                  "mul_, add_, addcmul_, addcdiv_, lerp_ on a transposed view; returns the state", amp_on_cuda=False),
        Benchmark("out_into_views", build_out_into_views,
                  "out= into strided columns, row slices and a transposed matmul output", amp_on_cuda=False),
        Benchmark("conv_channels_last", build_conv_channels_last,
                  "3x3 conv on channels-last input and weight, then mul_ and relu_ in place", amp_on_cuda=False),
        Benchmark("adam_transposed", build_adam_transposed,
                  "hand-written Adam on a transposed parameter; returns loss, param, exp_avg, exp_avg_sq",
                  amp_on_cuda=False),
        _optim("adam", False), _optim("adam", True), _optim("adamw", False), _optim("adamw", True),
    ),
)
