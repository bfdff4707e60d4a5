"""Input-pipeline suite: a real ``torch.utils.data`` pipeline feeding a small training step.

Issue 19 ("data loading starves the GPU"): a model can get slower because its *input* got slower
(fewer loader workers, a costlier transform, lost pinned memory) with no change to the model's
kernels. Every benchmark here is the same tiny conv-net SGD step fed by a DataLoader under one
loader setting; the settings are benchmark params, so each is a series of its own.

Each step reports how long it waited for its batch (``next()`` on the loader plus issuing the
host-to-device copy) through ``Workload.input_stats``; the worker's ``pipeline`` pass
(perfwatch/collectors/pipeline.py) turns that into ``data_wait_fraction`` and ``data_wait_time``.

Determinism (the worker compares the first two steps of fresh eager, compiled and float64 builds):
every item is synthesised from its index and the case's seed with a generator of its own, and the
sampler's order comes from a seeded generator, so every build sees the same batches in the same
order whichever worker made them. Items are float32 on the host and cast to ``ctx.torch_dtype``
on the device, so the float64 build holds the same values.
"""

from __future__ import annotations

import itertools
import time
import weakref
from typing import Any, Callable, Iterator

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset, Sampler

from perfwatch.suites.base import BenchContext, Benchmark, Suite, Tolerance, Workload

# image: the synthesised (decoded) side; crop: what the model sees; items: one epoch
_SIZES = dict(
    tiny=dict(image=16, crop=12, batch=8, items=64, width=8, classes=10),
    small=dict(image=72, crop=64, batch=64, items=4096, width=32, classes=100),
    medium=dict(image=144, crop=128, batch=128, items=8192, width=64, classes=1000),
    large=dict(image=256, crop=224, batch=256, items=16384, width=64, classes=1000),
)
_MEAN = (0.485, 0.456, 0.406)
_STD = (0.229, 0.224, 0.225)


class SyntheticImages(Dataset):
    """Map-style dataset whose ``__getitem__`` does the CPU work of a real image pipeline:
    "decode" (a uint8 image drawn from the index), random crop and flip, ``rounds`` blur passes
    standing in for costlier augmentations, normalisation to float32.

    A generator per item, seeded by (seed, index): an item is the same in every build and in
    every loader worker, so batches do not depend on which worker made them."""

    def __init__(self, items: int, image: int, crop: int, classes: int, rounds: int, seed: int) -> None:
        self.items, self.image, self.crop, self.classes = items, image, crop, classes
        self.rounds, self.seed = rounds, seed
        self.mean = torch.tensor(_MEAN).view(3, 1, 1)
        self.std = torch.tensor(_STD).view(3, 1, 1)

    def __len__(self) -> int:
        return self.items

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + int(index))
        img = torch.randint(0, 256, (3, self.image, self.image), dtype=torch.uint8, generator=g)
        top, left = (int(v) for v in torch.randint(0, self.image - self.crop + 1, (2,), generator=g))
        img = img[:, top:top + self.crop, left:left + self.crop]
        if bool(torch.randint(0, 2, (1,), generator=g)):
            img = img.flip(-1)
        x = img.float().div_(255.0)
        for _ in range(self.rounds):  # the transform's cost knob (heavy_transform)
            x = F.avg_pool2d(x.unsqueeze(0), 3, stride=1, padding=1).squeeze(0)
        return ((x - self.mean) / self.std).contiguous(), int(index) % self.classes


class SeededShuffle(Sampler):
    """Endless shuffled indices, one seeded permutation per epoch: the same order in every build,
    and no epoch boundary (no iterator restart) inside a timed window."""

    def __init__(self, items: int, seed: int) -> None:
        self.items, self.seed = items, seed

    def __iter__(self) -> Iterator[int]:
        for epoch in itertools.count():
            g = torch.Generator().manual_seed(self.seed * 7919 + epoch)
            yield from torch.randperm(self.items, generator=g).tolist()


class Feed:
    """The loader's iterator and the wait accounting the ``pipeline`` pass reads.

    ``close`` ends the loader's worker processes. It runs when the step that owns this feed is
    collected (a finalizer, below): the accuracy pass builds and drops fresh workloads, and each
    would otherwise keep its workers until the process ends."""

    def __init__(self, loader: DataLoader, device: str) -> None:
        self.device = device
        self._it: Any = iter(loader)
        # batches the loader may hold ready: refilled whenever nothing steps (between the
        # worker's passes), they make the next steps look fed; the pipeline pass steps past them
        self.prefetch = loader.num_workers * (loader.prefetch_factor or 0)
        self.wait_s = 0.0
        self.steps = 0

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        t0 = time.perf_counter()
        x, y = next(self._it)
        # the copy's issue counts as waiting: from pinned memory it is queued and returns at
        # once; from pageable memory it is a staged, host-synchronous copy (lost pinning shows)
        x = x.to(self.device, non_blocking=True)
        y = y.to(self.device, non_blocking=True)
        self.wait_s += time.perf_counter() - t0
        self.steps += 1
        return x, y

    def stats(self) -> dict[str, float]:
        return {"wait_s": self.wait_s, "steps": self.steps, "prefetch": self.prefetch}

    def close(self) -> None:
        it, self._it = self._it, None
        shutdown = getattr(it, "_shutdown_workers", None)  # the multiprocessing iterator's own
        if shutdown is not None:
            shutdown()


def make_loader(ctx: BenchContext, dataset: Dataset, batch: int) -> DataLoader:
    """The DataLoader under the benchmark's settings. Pinning only on CUDA: elsewhere there is no
    device copy for it to speed up. Worker options only with workers (torch refuses them else)."""
    p = ctx.params
    workers = int(p.get("num_workers", 0))
    kw: dict[str, Any] = {}
    if workers > 0:
        kw = dict(prefetch_factor=int(p.get("prefetch_factor", 2)), persistent_workers=True)
    return DataLoader(dataset, batch_size=batch, sampler=SeededShuffle(len(dataset), ctx.seed), num_workers=workers,
                      pin_memory=bool(p.get("pin_memory")) and ctx.device == "cuda", drop_last=True,
                      # the base seed of the workers from a generator of its own, not torch's global
                      # RNG: the model's weights are drawn from that one in the same order in every build
                      generator=torch.Generator().manual_seed(ctx.seed), **kw)


def build_train(ctx: BenchContext, dataset_type: Callable[..., Dataset] = SyntheticImages) -> Workload:
    """The loader feeding one SGD step of a small conv net; returns the loss. ``dataset_type``
    lets a suite file swap the dataset (tests plant a slower one) without touching the params,
    which would start a new series instead of showing a regression."""
    ctx.seed_all()
    s = ctx.pick(**_SIZES)
    rounds = int(ctx.params.get("transform_rounds", 1))
    dataset = dataset_type(s["items"], s["image"], s["crop"], s["classes"], rounds, ctx.seed)
    loader = make_loader(ctx, dataset, s["batch"])
    w = s["width"]
    with torch.device(ctx.device):
        model = nn.Sequential(nn.Conv2d(3, w, 3, padding=1), nn.ReLU(), nn.Conv2d(w, 2 * w, 3, stride=2, padding=1),
                              nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2 * w, s["classes"]))
    model = model.to(ctx.torch_dtype)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = ctx.compile(lambda x, y: F.cross_entropy(model(x), y))
    feed = Feed(loader, ctx.device)

    def step() -> torch.Tensor:
        if ctx.device == "cuda" and torch.cuda.is_current_stream_capturing():
            # a CUDA graph would replay one stale batch and none of the loading: say so instead
            raise RuntimeError("an input-pipeline step reads its batch on the host")
        x, y = feed.next()
        with ctx.autocast():
            loss = loss_fn(x.to(ctx.torch_dtype), y)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss.detach().clone()

    weakref.finalize(step, feed.close)  # the step gone, its loader workers end (Feed's docstring)
    notes = {"num_workers": loader.num_workers, "pin_memory": loader.pin_memory, "transform_rounds": rounds,
             "prefetch_factor": loader.prefetch_factor, "batch": s["batch"], "crop": s["crop"]}
    return Workload(step=step, items_per_step=s["batch"], item_unit="images", notes=notes, input_stats=feed.stats)


def _bench(name: str, description: str, **params: Any) -> Benchmark:
    full = {"num_workers": 0, "pin_memory": False, "prefetch_factor": 2, "transform_rounds": 1, **params}
    return Benchmark(name, build_train, description, params=full,
                     # the loss after SGD updates accumulates rounding, as vision's train step does
                     tolerance=Tolerance(atol=1e-3, rtol=1e-2),
                     # pinned memory only means something with a host-to-device copy
                     backends=("cuda",) if full["pin_memory"] else ("cpu", "cuda", "mps"))


SUITE = Suite(
    name="pipeline",
    description="A torch.utils.data loader feeding a small conv-net SGD step, under several loader settings.",
    benchmarks=(
        _bench("loader_w0", "loading in the training process (num_workers=0)", num_workers=0),
        _bench("loader_w2", "two loader workers, pageable memory", num_workers=2),
        _bench("loader_w2_pinned", "two loader workers, pinned memory (CUDA)", num_workers=2, pin_memory=True),
        _bench("heavy_transform", "two loader workers, an 8x costlier transform", num_workers=2, transform_rounds=8),
    ),
)
