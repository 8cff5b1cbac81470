// The caching device allocator (see allocator.h for the policy and statistics).
#include "allocator.h"

#include <cuda_runtime_api.h>

#include <cstdint>

#include "cuda_check.h"
#include "handles.h"
#include "spt/core/error.h"

namespace spt::cuda {

namespace {

constexpr size_t kBlockRound = 512;  // bytes; also keeps every block 256-byte aligned

size_t round_block(size_t nbytes) { return (nbytes + kBlockRound - 1) / kBlockRound * kBlockRound; }

}  // namespace

CachingAllocator::CachingAllocator(int device_index) : device_index_(device_index) {}

CachingAllocator::~CachingAllocator() {
  // Best effort, never throws: at process exit the runtime may already be
  // unloading. Live blocks belong to tensors that outlived the backend.
  int previous = 0;
  if (cudaGetDevice(&previous) != cudaSuccess) return;
  if (cudaSetDevice(device_index_) == cudaSuccess) {
    for (const auto& entry : free_blocks_) cudaFree(entry.second);
  }
  cudaSetDevice(previous);
  cudaGetLastError();
}

void* CachingAllocator::allocate(size_t nbytes) {
  if (nbytes == 0) return nullptr;
  SPT_CHECK(nbytes <= SIZE_MAX - kBlockRound, "[cuda allocator] request of ", nbytes,
            " bytes is too large");
  if (limit() != 0) check_limit(nbytes, device().str().c_str());  // no name built per allocation without a cap
  const size_t block_bytes = round_block(nbytes);
  std::lock_guard<std::mutex> lock(mutex_);
  size_t taken_bytes = 0;
  void* ptr = take_cached(block_bytes, &taken_bytes);
  const bool from_system = ptr == nullptr;
  if (from_system) {
    ptr = system_alloc(block_bytes, nbytes);
    taken_bytes = block_bytes;
  }
  live_blocks_.emplace(ptr, LiveBlock{taken_bytes, nbytes});
  record_alloc(nbytes, false);
  if (from_system) record_system_alloc(block_bytes);
  return ptr;
}

void CachingAllocator::deallocate(void* ptr, size_t /*nbytes: the recorded request is used*/) {
  if (ptr == nullptr) return;
  std::lock_guard<std::mutex> lock(mutex_);
  const auto it = live_blocks_.find(ptr);
  // Not ours: nothing to do (this runs in Storage's destructor, so no throw).
  if (it == live_blocks_.end()) return;
  free_blocks_.emplace(it->second.block_bytes, ptr);
  record_free(it->second.requested_bytes);
  live_blocks_.erase(it);
}

void CachingAllocator::release_cached() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (free_blocks_.empty()) return;
  const DeviceGuard guard(device_index_);
  // Kernels enqueued before the blocks were freed may still use them.
  SPT_CUDA_CHECK(cudaDeviceSynchronize());
  free_cached_locked();
}

void* CachingAllocator::take_cached(size_t block_bytes, size_t* taken_bytes) {
  const auto it = free_blocks_.lower_bound(block_bytes);
  if (it == free_blocks_.end() || it->first / 2 > block_bytes) return nullptr;
  *taken_bytes = it->first;
  void* ptr = it->second;
  free_blocks_.erase(it);
  return ptr;
}

void* CachingAllocator::system_alloc(size_t block_bytes, size_t requested_bytes) {
  const DeviceGuard guard(device_index_);
  void* ptr = nullptr;
  cudaError_t err = cudaMalloc(&ptr, block_bytes);
  if (err == cudaErrorMemoryAllocation && !free_blocks_.empty()) {
    cudaGetLastError();  // clear the (non-sticky) error before retrying
    SPT_CUDA_CHECK(cudaDeviceSynchronize());
    free_cached_locked();
    err = cudaMalloc(&ptr, block_bytes);
  }
  if (err == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    size_t free_bytes = 0, total_bytes = 0;
    if (cudaMemGetInfo(&free_bytes, &total_bytes) != cudaSuccess) cudaGetLastError();
    const MemoryStats s = stats();
    fail("[cuda allocator] out of memory on cuda:", device_index_, " allocating ", requested_bytes,
         " bytes (", s.current, " bytes in live tensors, ", s.reserved, " bytes reserved by spt, ",
         free_bytes, " of ", total_bytes,
         " bytes free on the device); hint: reduce the batch size or sequence length");
  }
  check_cuda(err, "cudaMalloc", __FILE__, __LINE__);
  return ptr;
}

void CachingAllocator::free_cached_locked() {
  while (!free_blocks_.empty()) {
    const auto it = free_blocks_.begin();
    const size_t bytes = it->first;
    void* ptr = it->second;
    free_blocks_.erase(it);
    record_system_free(bytes);
    SPT_CUDA_CHECK(cudaFree(ptr));
  }
}

void CachingAllocator::record_system_alloc(size_t block_bytes) {
  std::lock_guard<std::mutex> lock(stats_mutex_);
  stats_.reserved += block_bytes;
  stats_.num_system += 1;
}

}  // namespace spt::cuda
