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

void Allocator::set_limit(size_t bytes) {
  std::lock_guard<std::mutex> lock(stats_mutex_);
  limit_ = bytes;
}

size_t Allocator::limit() const {
  std::lock_guard<std::mutex> lock(stats_mutex_);
  return limit_;
}

void Allocator::check_limit(size_t nbytes, const char* who) const {
  std::lock_guard<std::mutex> lock(stats_mutex_);
  if (limit_ == 0 || nbytes <= limit_ - std::min(limit_, stats_.current)) return;
  fail("[", who, " allocator] out of memory: allocating ", nbytes, " bytes with ", stats_.current,
       " bytes in live tensors would pass the limit of ", limit_, " bytes (runtime.memory_limit_mb = ",
       limit_ >> 20, "); ", limit_ - std::min(limit_, stats_.current), " bytes are available; hint: reduce "
       "train.batch_size or tokenizer.max_length (or use train.grad_accumulation), or raise the limit");
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

void Allocator::record_system_alloc(size_t nbytes) {
  std::lock_guard<std::mutex> lock(stats_mutex_);
  stats_.reserved += nbytes;
  stats_.num_system += 1;
}

void Allocator::record_free(size_t nbytes) {
  std::lock_guard<std::mutex> lock(stats_mutex_);
  stats_.current -= nbytes;
}

void Allocator::record_system_free(size_t nbytes) {
  std::lock_guard<std::mutex> lock(stats_mutex_);
  stats_.reserved -= nbytes;
}

size_t CpuAllocator::block_size(size_t nbytes) {
  constexpr size_t kAlign = 256;
  if (nbytes < kCacheMin) return (nbytes + kAlign - 1) / kAlign * kAlign;
  const int top = 63 - __builtin_clzll(nbytes);  // 2^top <= nbytes < 2^(top+1)
  const size_t step = size_t{1} << (top - 3);      // eight classes per octave
  return (nbytes + step - 1) / step * step;
}

CpuAllocator::~CpuAllocator() { release_cached(); }

void* CpuAllocator::allocate(size_t nbytes) {
  if (nbytes == 0) return nullptr;
  check_limit(nbytes, "cpu");
  const size_t size = block_size(nbytes);
  if (size >= kCacheMin) {
    std::lock_guard<std::mutex> lock(cache_mutex_);
    auto it = cache_.find(size);
    if (it != cache_.end()) {
      void* p = it->second;
      cache_.erase(it);
      cached_ -= size;
      record_alloc(nbytes, false);
      return p;
    }
    // A miss: make room so that live + cached + this block stays within the
    // limit (blocks of another phase, e.g. evaluation's batch shapes, go back).
    const MemoryStats s = stats();
    const size_t limit = cache_limit(std::max(s.peak, s.current + nbytes));
    const size_t needed = s.current + size;
    trim_locked(needed < limit ? limit - needed : 0);
  }
  void* p = std::aligned_alloc(256, size);
  if (p == nullptr && size >= kCacheMin) {  // give the cache back and try once more
    release_cached();
    p = std::aligned_alloc(256, size);
  }
  SPT_CHECK(p != nullptr, "[cpu allocator] out of host memory: the system refused ", size, " bytes for a ",
            nbytes, "-byte tensor with ", stats().current, " bytes in live tensors; hint: reduce "
            "train.batch_size or tokenizer.max_length, or free memory on the machine");
  record_alloc(nbytes, false);
  record_system_alloc(size);
  return p;
}

void CpuAllocator::deallocate(void* ptr, size_t nbytes) {
  if (ptr == nullptr) return;
  const size_t size = block_size(nbytes);
  record_free(nbytes);
  if (size < kCacheMin) {
    std::free(ptr);
    record_system_free(size);
    return;
  }
  const MemoryStats s = stats();
  const size_t limit = cache_limit(s.peak);
  std::lock_guard<std::mutex> lock(cache_mutex_);
  cache_.emplace(size, ptr);
  cached_ += size;
  trim_locked(limit > s.current ? limit - s.current : 0);
}

void CpuAllocator::trim_locked(size_t keep) {
  while (cached_ > keep && !cache_.empty()) {
    auto it = std::prev(cache_.end());  // the largest block
    std::free(it->second);
    record_system_free(it->first);
    cached_ -= it->first;
    cache_.erase(it);
  }
}

void CpuAllocator::release_cached() {
  std::lock_guard<std::mutex> lock(cache_mutex_);
  trim_locked(0);
}

size_t CpuAllocator::cached_bytes() const {
  std::lock_guard<std::mutex> lock(cache_mutex_);
  return cached_;
}

}  // namespace spt
