// Per-device allocators that track current and peak bytes.
//
// Peak bytes is how every memory goal of the project is measured, on CPU too:
// `current` counts bytes handed out to live tensors, `peak` its high-water mark
// since the last reset_peak(). `reserved` is what the allocator holds from the
// system (current plus cached free blocks).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>

#include "spt/core/device.h"

namespace spt {

struct MemoryStats {
  size_t current = 0;       // bytes in live allocations
  size_t peak = 0;          // max of current since the last reset_peak()
  size_t reserved = 0;      // bytes obtained from the system (incl. cached blocks)
  uint64_t num_alloc = 0;   // allocate() calls
  uint64_t num_system = 0;  // calls into malloc / cudaMalloc
};

class Allocator {
 public:
  virtual ~Allocator() = default;
  virtual Device device() const = 0;
  // Returns memory aligned to at least 256 bytes; nbytes == 0 gives nullptr.
  virtual void* allocate(size_t nbytes) = 0;
  virtual void deallocate(void* ptr, size_t nbytes) = 0;
  // Returns cached blocks to the system (no-op where nothing is cached).
  virtual void release_cached() {}
  MemoryStats stats() const;
  void reset_peak();
  // A cap on live bytes (0: none; runtime.memory_limit_mb): an allocation that
  // would pass it fails with an spt::Error naming the requested, live and
  // allowed bytes, as running out of memory does. For tests and shared machines.
  void set_limit(size_t bytes);
  size_t limit() const;

 protected:
  // Throws when `nbytes` more live bytes would pass the limit; `who` names the
  // allocator ("cpu", "cuda:0").
  void check_limit(size_t nbytes, const char* who) const;
  void record_alloc(size_t nbytes, bool from_system);
  void record_system_alloc(size_t nbytes);  // reserved grows without a live allocation
  void record_free(size_t nbytes);
  void record_system_free(size_t nbytes);

  mutable std::mutex stats_mutex_;
  MemoryStats stats_;
  size_t limit_ = 0;
};

// The host allocator: 256-byte aligned blocks from the C library. Blocks of
// kCacheMin bytes and more are rounded up to one of eight size classes per power
// of two and cached when freed: a training step allocates the same activations
// every step, and fresh pages from the kernel cost a page fault and a zeroing
// each (about a tenth of a MiniLM training step before this cache). Live plus
// cached bytes stay within 9/8 of the peak of live bytes (since the last
// reset_peak()): beyond that the largest cached blocks go back to the system, on
// a free and on a miss, so that the blocks of another phase (evaluation's batch
// shapes) make way. Smaller blocks go straight to malloc, which reuses them well.
class CpuAllocator final : public Allocator {
 public:
  static constexpr size_t kCacheMin = size_t{1} << 20;

  ~CpuAllocator() override;
  Device device() const override { return Device::cpu(); }
  void* allocate(size_t nbytes) override;
  void deallocate(void* ptr, size_t nbytes) override;
  void release_cached() override;
  size_t cached_bytes() const;

  // The size a request of nbytes occupies (its class for cached sizes).
  static size_t block_size(size_t nbytes);

 private:
  // Gives cached blocks back, largest first, until at most `keep` bytes are cached.
  void trim_locked(size_t keep);
  // What live plus cached bytes may reach: the peak of live bytes plus class rounding.
  static size_t cache_limit(size_t peak) { return peak + peak / 8; }

  mutable std::mutex cache_mutex_;
  std::multimap<size_t, void*> cache_;  // block size -> free blocks
  size_t cached_ = 0;
};

}  // namespace spt
