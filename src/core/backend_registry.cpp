// One backend per device, created on first use and alive until exit.
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

bool cuda_built() {
#ifdef SPT_WITH_CUDA
  return true;
#else
  return false;
#endif
}

namespace {

std::mutex g_cuda_mutex;

std::map<int, std::unique_ptr<Backend>>& cuda_backends_map() {
  // Query the driver before the map exists, so that the map (and the backends in
  // it) is destroyed at exit before the CUDA runtime shuts down.
  (void)cuda_device_count();
  static std::map<int, std::unique_ptr<Backend>> m;
  return m;
}

}  // namespace

void synchronize_all_backends() {
  std::lock_guard<std::mutex> lock(g_cuda_mutex);
  for (auto& [index, backend] : cuda_backends_map()) backend->synchronize();
}

Backend& backend_for(Device device) {
  if (device.is_cpu()) {
    static cpu::CpuBackend cpu_backend;
    return cpu_backend;
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
