// perfwatch's managed-memory allocator for torch.cuda.memory.CUDAPluggableAllocator.
//
// Built at first use (perfwatch/measure/allocators.py: nvcc, or g++ against cudart) into a cache
// directory and installed before the worker's first CUDA allocation. Every torch allocation
// becomes cudaMallocManaged memory. Environment, read once:
//   PERFWATCH_UVM_MODE       "managed" (default) or "managed_prefetch": advise the pages to
//                            live on the allocating device and prefetch them there at malloc;
//   PERFWATCH_UVM_CAP_BYTES  the most managed memory held at once. A request beyond it fails
//                            (torch sees an out-of-memory error) instead of oversubscribing the
//                            GPU, which can hang a shared card. 0 or unset: refuse everything.
#include <cuda_runtime_api.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <sys/types.h>

namespace {

std::atomic<long long> g_in_use{0};
std::atomic<long long> g_peak{0};
std::atomic<long long> g_refused{0};
int g_mode = -1;  // 0 managed, 1 managed + advice + prefetch
long long g_cap = 0;

void read_env() {
  if (g_mode >= 0) return;
  const char* mode = std::getenv("PERFWATCH_UVM_MODE");
  g_mode = (mode && std::strcmp(mode, "managed_prefetch") == 0) ? 1 : 0;
  const char* cap = std::getenv("PERFWATCH_UVM_CAP_BYTES");
  g_cap = cap ? std::atoll(cap) : 0;
}

void advise_and_prefetch(void* ptr, size_t size, int device, cudaStream_t stream) {
#if CUDART_VERSION >= 13000
  cudaMemLocation loc{};
  loc.type = cudaMemLocationTypeDevice;
  loc.id = device;
  cudaMemAdvise(ptr, size, cudaMemAdviseSetPreferredLocation, loc);
  cudaMemAdvise(ptr, size, cudaMemAdviseSetAccessedBy, loc);
  cudaMemPrefetchAsync(ptr, size, loc, 0, stream);
#else
  cudaMemAdvise(ptr, size, cudaMemAdviseSetPreferredLocation, device);
  cudaMemAdvise(ptr, size, cudaMemAdviseSetAccessedBy, device);
  cudaMemPrefetchAsync(ptr, size, device, stream);
#endif
}

}  // namespace

extern "C" {

void* perfwatch_uvm_malloc(ssize_t size, int device, cudaStream_t stream) {
  read_env();
  if (size <= 0) return nullptr;
  long long now = g_in_use.fetch_add(size) + size;
  if (now > g_cap) {  // never ask for more managed memory than was free at start
    g_in_use.fetch_sub(size);
    g_refused.fetch_add(1);
    return nullptr;
  }
  long long peak = g_peak.load();
  while (now > peak && !g_peak.compare_exchange_weak(peak, now)) {
  }
  int prev = 0;
  cudaGetDevice(&prev);
  if (prev != device) cudaSetDevice(device);
  void* ptr = nullptr;
  cudaError_t err = cudaMallocManaged(&ptr, static_cast<size_t>(size), cudaMemAttachGlobal);
  if (err != cudaSuccess) {
    g_in_use.fetch_sub(size);
    if (prev != device) cudaSetDevice(prev);
    return nullptr;
  }
  if (g_mode == 1) advise_and_prefetch(ptr, static_cast<size_t>(size), device, stream);
  if (prev != device) cudaSetDevice(prev);
  return ptr;
}

void perfwatch_uvm_free(void* ptr, ssize_t size, int device, cudaStream_t stream) {
  if (!ptr) return;
  // The memory may still be in use by work queued on the stream: wait for it.
  cudaStreamSynchronize(stream);
  cudaFree(ptr);
  g_in_use.fetch_sub(size);
}

// Free and total memory of a device, without torch (whose caching allocator must not be
// initialized before the pluggable one is installed). Returns a cudaError_t.
int perfwatch_uvm_mem_info(int device, size_t* free_bytes, size_t* total_bytes) {
  int prev = 0;
  cudaGetDevice(&prev);
  cudaSetDevice(device);
  int err = static_cast<int>(cudaMemGetInfo(free_bytes, total_bytes));
  cudaSetDevice(prev);
  return err;
}

long long perfwatch_uvm_peak_bytes() { return g_peak.load(); }
long long perfwatch_uvm_refused() { return g_refused.load(); }

}  // extern "C"
