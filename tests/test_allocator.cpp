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
