// Allocator bookkeeping: current and peak bytes follow tensor lifetimes.
#include <catch2/catch.hpp>

#include "spt/backend/backend.h"

using namespace spt;

TEST_CASE("cpu allocator tracks current and peak bytes", "[allocator]") {
  CpuAllocator alloc;
  alloc.reset_peak();
  CHECK(alloc.stats().current == 0);
  {
    Tensor a = Tensor::empty({1000}, DType::f32, Device::cpu(), &alloc);  // 4000 B
    CHECK(alloc.stats().current == 4000);
    {
      Tensor b = Tensor::empty({10, 10}, DType::f64, Device::cpu(), &alloc);  // 800 B
      Tensor view = b.reshape({100});  // a view allocates nothing
      CHECK(alloc.stats().current == 4800);
      CHECK(view.same_storage(b));
    }
    CHECK(alloc.stats().current == 4000);
    CHECK(alloc.stats().peak == 4800);
    Tensor c = Tensor::empty({100}, DType::bf16, Device::cpu(), &alloc);  // 200 B
    CHECK(alloc.stats().peak == 4800);
    alloc.reset_peak();
    CHECK(alloc.stats().peak == 4200);
  }
  const MemoryStats s = alloc.stats();
  CHECK(s.current == 0);
  CHECK(s.peak == 4200);
  CHECK(s.num_alloc == 3);
  CHECK(s.reserved == 0);
}

TEST_CASE("default cpu allocator sees op temporaries", "[allocator]") {
  Allocator& a = default_allocator(Device::cpu());
  const size_t before = a.stats().current;
  a.reset_peak();
  {
    Tensor t = Tensor::zeros({256, 256}, DType::f32);
    CHECK(a.stats().current == before + 256 * 256 * 4);
  }
  CHECK(a.stats().current == before);
  CHECK(a.stats().peak >= before + 256 * 256 * 4);
}

TEST_CASE("zero-size tensors allocate nothing and stay usable", "[allocator]") {
  CpuAllocator alloc;
  Tensor t = Tensor::empty({0, 5}, DType::f32, Device::cpu(), &alloc);
  CHECK(t.defined());
  CHECK(t.numel() == 0);
  CHECK(alloc.stats().current == 0);
  CHECK(t.to_doubles().empty());
}

TEST_CASE("cpu allocator caches large blocks by size class, bounded by the peak", "[allocator]") {
  CpuAllocator alloc;
  const int64_t n = (3 << 20) / 4 + 7;  // ~3 MiB of f32: cached size class
  const size_t bytes = static_cast<size_t>(n) * 4;
  CHECK(CpuAllocator::block_size(bytes) >= bytes);
  CHECK(CpuAllocator::block_size(bytes) <= bytes + bytes / 8);
  void* first = nullptr;
  {
    Tensor a = Tensor::empty({n}, DType::f32, Device::cpu(), &alloc);
    first = a.data_ptr();
    CHECK(alloc.stats().current == bytes);
  }
  CHECK(alloc.stats().current == 0);
  CHECK(alloc.cached_bytes() == CpuAllocator::block_size(bytes));
  {
    // A slightly different size in the same class reuses the block: no system call.
    const uint64_t sys = alloc.stats().num_system;
    Tensor b = Tensor::empty({n + 100}, DType::f32, Device::cpu(), &alloc);
    CHECK(b.data_ptr() == first);
    CHECK(alloc.stats().num_system == sys);
    CHECK(alloc.cached_bytes() == 0);
  }
  {
    // Freeing more than the peak of live bytes: the cache gives blocks back.
    alloc.release_cached();
    alloc.reset_peak();
    Tensor big = Tensor::empty({4 * n}, DType::f32, Device::cpu(), &alloc);
    big = Tensor();
    Tensor s1 = Tensor::empty({n}, DType::f32, Device::cpu(), &alloc);
    Tensor s2 = Tensor::empty({n}, DType::f32, Device::cpu(), &alloc);
  }
  CHECK(alloc.cached_bytes() <= alloc.stats().peak + alloc.stats().peak / 8);
  {
    // Another phase with other shapes: its misses push the old blocks out, so live
    // plus cached never exceeds 9/8 of the peak.
    const size_t peak = alloc.stats().peak;
    for (int64_t k = 1; k <= 3; ++k) {
      Tensor t = Tensor::empty({n / 2 + k * 4096}, DType::f32, Device::cpu(), &alloc);
      CHECK(alloc.stats().current + alloc.cached_bytes() <= peak + peak / 8);
    }
  }
  CHECK(alloc.stats().reserved == alloc.cached_bytes());
  alloc.release_cached();
  CHECK(alloc.stats().reserved == 0);
}
