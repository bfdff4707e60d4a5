"""UVM suite: one GPT training step under three CUDA allocators (CUDA only).

The same model and step as ``llm``'s ``train`` (float32, no autocast, so every tensor is the
allocator's), run with
  - ``caching``: torch's caching allocator (the baseline);
  - ``managed``: every allocation is cudaMallocManaged memory, through
    ``torch.cuda.memory.CUDAPluggableAllocator`` (perfwatch/measure/uvm_alloc.cpp);
  - ``managed_prefetch``: managed memory advised to live on the GPU and prefetched there.
Each benchmark declares its allocator (``Benchmark.allocator``); the worker's build pass installs
it before the case's first CUDA allocation (each case is a fresh process). ``uvm_counters`` asks
the worker for a pass counting page faults and migrated bytes through CUPTI (``perfwatch[uvm]``). Managed allocators cannot serve CUDA graphs' private pools
(reduce-overhead and max-autotune capture CUDA graphs): those two cases are stored as
``unsupported``, with that reason, for the managed benchmarks. Managed memory is capped at half
the GPU's free memory when the case starts.
"""

from __future__ import annotations

from perfwatch.suites.base import BenchContext, Benchmark, Suite, Workload


def build(ctx: BenchContext) -> Workload:
    from perfwatch.suites.llm import build_train

    return build_train(ctx)  # the allocator is in place already: the worker installed it first


_NO_GRAPHS = ("it captures CUDA graphs, whose private memory pools a CUDAPluggableAllocator "
              "(the managed-memory allocator) cannot provide")


def _bench(allocator: str, description: str) -> Benchmark:
    unsupported = {} if allocator == "caching" else {"reduce-overhead": _NO_GRAPHS, "max-autotune": _NO_GRAPHS}
    # params carry the allocator into the series key; the field is what the worker installs
    return Benchmark(allocator, build, description, params={"allocator": allocator}, backends=("cuda",),
                     amp_on_cuda=False, uvm_counters=True, allocator=allocator, unsupported_modes=unsupported)


SUITE = Suite(
    name="uvm",
    description="GPT train step (fp32) with the caching allocator vs CUDA managed memory (with and without prefetch).",
    benchmarks=(
        _bench("caching", "torch's caching allocator (baseline)"),
        _bench("managed", "cudaMallocManaged for every allocation (CUDAPluggableAllocator)"),
        _bench("managed_prefetch", "managed memory + cudaMemAdvise + cudaMemPrefetchAsync to the GPU"),
    ),
)
