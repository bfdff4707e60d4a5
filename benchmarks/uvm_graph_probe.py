"""Does a managed-memory CUDAPluggableAllocator serve CUDA graphs? (GPU only; evidence for docs.)

The uvm suite stores its managed benchmarks under reduce-overhead and max-autotune as
"unsupported": both modes capture CUDA graphs into private memory pools. This probe installs
perfwatch's managed allocator, then captures a graph two ways, and prints what torch says:
  - torch.compile(mode="reduce-overhead") on a small function (what the suite would do);
  - torch.cuda.graph capture directly.

    python benchmarks/uvm_graph_probe.py [managed|managed_prefetch]
"""

from __future__ import annotations

import sys
import traceback


def main() -> int:
    kind = sys.argv[1] if len(sys.argv) > 1 else "managed"
    import torch

    from perfwatch import api

    print("allocator:", api.install_allocator(kind))
    x = torch.randn(1024, 1024, device="cuda")

    def f(t):
        return torch.relu(t @ t) + 1

    try:
        g = torch.compile(f, mode="reduce-overhead")
        for _ in range(3):
            torch.compiler.cudagraph_mark_step_begin()
            out = g(x)
        torch.cuda.synchronize()
        print("reduce-overhead: ran", tuple(out.shape), "(cudagraph trees may have skipped capture; see log)")
    except Exception as exc:
        print("reduce-overhead: FAILED:", type(exc).__name__, str(exc).splitlines()[0][:300])
        traceback.print_exc(limit=3)
    try:
        graph = torch.cuda.CUDAGraph()
        s = torch.cuda.Stream()
        with torch.cuda.stream(s):
            f(x)
        torch.cuda.synchronize()
        with torch.cuda.graph(graph):
            y = f(x)
        graph.replay()
        torch.cuda.synchronize()
        print("torch.cuda.graph: captured and replayed", tuple(y.shape))
    except Exception as exc:
        print("torch.cuda.graph: FAILED:", type(exc).__name__, str(exc).splitlines()[0][:300])
    return 0


if __name__ == "__main__":
    sys.exit(main())
