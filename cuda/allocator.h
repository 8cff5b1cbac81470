// The caching device allocator of one GPU.
//
// cudaMalloc and cudaFree are slow and synchronise the device, so freed blocks
// are kept in a size-keyed free list and handed out again: once a training step
// has run, later steps allocate nothing from the system.
//
//   * Requests are rounded up to 512 bytes; a block is the rounded size of the
//     request that first needed it.
//   * A request reuses the smallest cached block that is at least its rounded
//     size and at most twice it (so a small tensor never pins a huge block).
//   * If cudaMalloc runs out of memory, every cached block is returned to the
//     system and the allocation is retried once before spt::Error is thrown.
//
// Statistics (MemoryStats): `current` / `peak` count the bytes callers asked
// for (as on the CPU, so peak memory compares across devices); `reserved`
// counts the bytes of blocks obtained from cudaMalloc and not yet freed;
// `num_system` counts cudaMalloc calls.
//
// Stream safety: a freed block may still be read or written by kernels already
// enqueued. All work of a backend runs on its single stream, so the next user
// of the block is ordered after them; release_cached() synchronises the
// device before returning blocks to the system.
#pragma once

#include <cstddef>
#include <map>
#include <mutex>
#include <unordered_map>

#include "spt/core/allocator.h"

namespace spt::cuda {

class CachingAllocator final : public Allocator {
 public:
  explicit CachingAllocator(int device_index);
  ~CachingAllocator() override;
  CachingAllocator(const CachingAllocator&) = delete;
  CachingAllocator& operator=(const CachingAllocator&) = delete;

  Device device() const override { return Device::cuda(device_index_); }
  void* allocate(size_t nbytes) override;
  void deallocate(void* ptr, size_t nbytes) override;
  void release_cached() override;

 private:
  struct LiveBlock {
    size_t block_bytes;      // size of the cudaMalloc'd block
    size_t requested_bytes;  // what the caller asked for (counted in `current`)
  };

  // Takes a cached block of at least `block_bytes` (and at most twice that),
  // or nullptr. Caller holds mutex_.
  void* take_cached(size_t block_bytes, size_t* taken_bytes);
  // cudaMalloc with one retry after releasing the cache. Caller holds mutex_.
  void* system_alloc(size_t block_bytes, size_t requested_bytes);
  // cudaFree of every cached block. Caller holds mutex_ and has synchronised.
  void free_cached_locked();
  void record_system_alloc(size_t block_bytes);

  int device_index_;
  std::mutex mutex_;
  std::multimap<size_t, void*> free_blocks_;          // block bytes -> block
  std::unordered_map<void*, LiveBlock> live_blocks_;  // handed out, not yet freed
};

}  // namespace spt::cuda
