// One backend per device, created on first use and never destroyed (so that it
// outlives every tensor, static ones included).
#include <map>
#include <mutex>

#include "cuda_backend.h"
#include "spt/backend/backend.h"
#include "spt/core/error.h"
#include "src/cpu/cpu_backend.h"

namespace spt {

const char* activation_name(Activation a) {
  switch (a) {
    case Activation::gelu_erf: return "gelu";
    case Activation::gelu_tanh: return "gelu_tanh";
    case Activation::relu: return "relu";
    case Activation::silu: return "silu";
    case Activation::tanh: return "tanh";
  }
  return "?";
}

int cuda_device_count() {
  static const int count = cuda::device_count();
  return count;
}

std::string cuda_unavailable_reason() {
  if (cuda_device_count() > 0) return "";
  return cuda::discovery_error();
}

bool cuda_built() {
#ifdef SPT_WITH_CUDA
  return true;
#else
  return false;
#endif
}

namespace {

std::mutex g_cuda_mutex;

// The backends are never destroyed: tensors held in static storage (the test
// registry's cases, caches) are freed during static destruction, which would
// otherwise run after their backend and its caching allocator are gone
// (undefined behaviour). Left alive, a late free only returns the block to the
// allocator's cache; the driver reclaims device memory at process exit.
std::map<int, std::unique_ptr<Backend>>& cuda_backends_map() {
  static auto* m = new std::map<int, std::unique_ptr<Backend>>();
  return *m;
}

}  // namespace

void synchronize_all_backends() {
  std::lock_guard<std::mutex> lock(g_cuda_mutex);
  for (auto& [index, backend] : cuda_backends_map()) backend->synchronize();
}

Backend& backend_for(Device device) {
  if (device.is_cpu()) {
    static auto* cpu_backend = new cpu::CpuBackend();  // never destroyed, as the CUDA ones
    return *cpu_backend;
  }
  auto& cuda_backends = cuda_backends_map();
  std::lock_guard<std::mutex> lock(g_cuda_mutex);
  auto it = cuda_backends.find(device.index);
  if (it != cuda_backends.end()) return *it->second;
  if (cuda_built()) {
    const int n = cuda_device_count();
    SPT_CHECK(device.index >= 0 && device.index < n, "[cuda] device ", device.str(),
              " is not available (", n, " CUDA device(s) found); hint: use device \"cpu\"");
  }
  auto backend = cuda::make_backend(device.index);
  Backend& ref = *backend;
  cuda_backends.emplace(device.index, std::move(backend));
  return ref;
}

Allocator& default_allocator(Device device) { return backend_for(device).allocator(); }

}  // namespace spt
