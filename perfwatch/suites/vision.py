"""Vision suite: a ResNet-style CNN, trained one SGD step or run for inference.

``params={"channels_last": True}`` puts weights and images in NHWC layout, which is what
cuDNN and Inductor's convolution paths prefer on GPUs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from perfwatch.suites.base import BenchContext, Benchmark, Suite, Workload
from perfwatch.suites.models import ResNet

_SIZES = dict(
    tiny=dict(widths=(8, 16), depths=(1, 1), classes=10, image=16, batch=2, imagenet_stem=False),
    small=dict(widths=(64, 128, 256, 512), depths=(2, 2, 2, 2), classes=10, image=32, batch=128, imagenet_stem=False),
    medium=dict(widths=(64, 128, 256, 512), depths=(2, 2, 2, 2), classes=1000, image=224, batch=64, imagenet_stem=True),
    large=dict(widths=(64, 128, 256, 512), depths=(3, 4, 6, 3), classes=1000, image=224, batch=128, imagenet_stem=True),
)


def _setup(ctx: BenchContext) -> tuple[ResNet, torch.Tensor, torch.Tensor, int]:
    ctx.seed_all()
    s = ctx.pick(**_SIZES)
    batch = ctx.batch_size(s["batch"])  # the batch search's override (--batch-search), else the size's
    with torch.device(ctx.device):
        model = ResNet(s["widths"], s["depths"], s["classes"], imagenet_stem=s["imagenet_stem"])
        # Drawn in float32, then cast: a float64 build sees the same values.
        images = torch.randn(batch, 3, s["image"], s["image"])
        labels = torch.randint(s["classes"], (batch,))
    model = model.to(ctx.torch_dtype)
    images = images.to(ctx.torch_dtype)
    if ctx.params.get("channels_last"):
        model = model.to(memory_format=torch.channels_last)
        images = images.contiguous(memory_format=torch.channels_last)
    return model, images, labels, batch


def build_train(ctx: BenchContext) -> Workload:
    model, images, labels, batch = _setup(ctx)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def forward_loss(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(model(x), y)

    loss_fn = ctx.compile(forward_loss)

    def step() -> torch.Tensor:
        with ctx.autocast():
            loss = loss_fn(images, labels)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss.detach().clone()  # clone: CUDA graphs reuse output buffers

    return Workload(step=step, items_per_step=batch, item_unit="images")


def build_inference(ctx: BenchContext) -> Workload:
    model, images, _, batch = _setup(ctx)
    model.eval()
    fwd = ctx.compile(model)

    @torch.no_grad()
    def step() -> torch.Tensor:
        with ctx.autocast():
            return fwd(images).clone()  # clone: CUDA graphs reuse output buffers

    return Workload(step=step, items_per_step=batch, item_unit="images")


_CL = {"channels_last": True}

SUITE = Suite(
    name="vision",
    description="ResNet-style CNN (basic blocks, BatchNorm): training and inference, NCHW and NHWC.",
    benchmarks=(
        # batch_search: --batch-search finds the largest batch that fits, and the throughput up to it
        Benchmark("train", build_train, "forward, cross-entropy, backward, SGD step (images/s)", batch_search=True),
        Benchmark("train_channels_last", build_train, "train with channels_last layout", params=_CL,
                  batch_search=True),
        Benchmark("inference", build_inference, "eval-mode forward (images/s)"),
        Benchmark("inference_channels_last", build_inference, "inference with channels_last layout", params=_CL),
    ),
)
