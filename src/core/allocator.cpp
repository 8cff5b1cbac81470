// Allocator bookkeeping and the host allocator.
#include "spt/core/allocator.h"

#include <algorithm>
#include <cstdlib>

#include "spt/core/error.h"

namespace spt {

MemoryStats Allocator::stats() const {
  std::lock_guard<std::mutex> lock(stats_mutex_);
  return stats_;
}

void Allocator::reset_peak() {
  std::lock_guard<std::mutex> lock(stats_mutex_);
  stats_.peak = stats_.current;
}

void Allocator::record_alloc(size_t nbytes, bool from_system) {
  std::lock_guard<std::mutex> lock(stats_mutex_);
  stats_.current += nbytes;
  stats_.peak = std::max(stats_.peak, stats_.current);
  stats_.num_alloc += 1;
  if (from_system) {
    stats_.reserved += nbytes;
    stats_.num_system += 1;
  }
}

void Allocator::record_free(size_t nbytes) {
  std::lock_guard<std::mutex> lock(stats_mutex_);
  stats_.current -= nbytes;
}

void Allocator::record_system_free(size_t nbytes) {
  std::lock_guard<std::mutex> lock(stats_mutex_);
  stats_.reserved -= nbytes;
}

void* CpuAllocator::allocate(size_t nbytes) {
  if (nbytes == 0) return nullptr;
  constexpr size_t kAlign = 256;
  const size_t rounded = (nbytes + kAlign - 1) / kAlign * kAlign;
  void* p = std::aligned_alloc(kAlign, rounded);
  SPT_CHECK(p != nullptr, "[cpu allocator] out of host memory allocating ", nbytes, " bytes (",
            stats().current, " bytes in use)");
  record_alloc(nbytes, true);
  return p;
}

void CpuAllocator::deallocate(void* ptr, size_t nbytes) {
  if (ptr == nullptr) return;
  std::free(ptr);
  record_free(nbytes);
  record_system_free(nbytes);
}

}  // namespace spt
