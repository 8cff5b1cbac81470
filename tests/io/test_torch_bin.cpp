// pytorch_model.bin (torch.save zip + pickle) read without Python: every
// tensor equals its safetensors twin written from the same state dict.
#include <catch2/catch.hpp>
#include <cstring>

#include "spt/io/safetensors.h"
#include "spt/io/torch_bin.h"
#include "tests/io/io_test_util.h"

using namespace spt;
using namespace spt::io;

namespace {

void check_twins(const TensorReader& bin, const TensorReader& st) {
  REQUIRE(bin.tensors().size() == st.tensors().size());
  for (const TensorInfo& t : st.tensors()) {
    INFO(t.name);
    const TensorInfo* b = bin.find(t.name);
    REQUIRE(b != nullptr);
    CHECK(b->dtype == t.dtype);
    CHECK(b->shape == t.shape);
    CHECK(bin.raw(t.name) == st.raw(t.name));
  }
}

}  // namespace

TEST_CASE("torch.save of every dtype, views and shared storages reads like its safetensors twin", "[io]") {
  TorchBinReader bin((spt::test::models_dir() / "misc_tensors.bin").string());
  SafetensorsReader st((spt::test::models_dir() / "misc_tensors.safetensors").string());
  check_twins(bin, st);
  // Pickle order is the state dict's order.
  CHECK(bin.tensors().front().name == "f32");
  // Strided views were gathered: transposed == f32^T.
  const auto f32 = bin.load("f32").to_doubles();
  const auto tr = bin.load("transposed").to_doubles();
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 6; ++j) CHECK(tr[static_cast<size_t>(j * 4 + i)] == f32[static_cast<size_t>(i * 6 + j)]);
  CHECK(bin.load("u8", DType::i64).to_ints() == std::vector<int64_t>{0, 200, 255});
  CHECK(bin.load("bool", DType::i32).to_ints() == std::vector<int64_t>{1, 0, 1});
  CHECK(bin.load("i64").to_ints() == std::vector<int64_t>{-(int64_t{1} << 40), -1, 0, 7});
  CHECK(bin.load("scalar").to_doubles() == std::vector<double>{3.5});
  CHECK(bin.load("empty").numel() == 0);
}

TEST_CASE("pytorch_model.bin of a BERT equals its model.safetensors", "[io]") {
  const auto dir = spt::test::models_dir() / "bert_base";
  const auto bin = open_tensors((dir / "pytorch_model.bin").string());
  const auto st = open_tensors((dir / "model.safetensors").string());
  CHECK(bin->format() == "torch zip (torch.save)");
  check_twins(*bin, *st);
}

TEST_CASE("bin-to-safetensors conversion is lossless", "[io]") {
  spt::test::TempDir tmp;
  TorchBinReader bin((spt::test::models_dir() / "misc_tensors.bin").string());
  std::vector<std::vector<unsigned char>> bufs;
  std::vector<SafetensorsEntry> entries;
  bufs.reserve(bin.tensors().size());
  for (const TensorInfo& t : bin.tensors()) {
    bufs.push_back(bin.raw(t.name));
    entries.push_back({t.name, t.dtype, t.shape, bufs.back().data()});
  }
  write_safetensors((tmp / "c.safetensors").string(), entries, {{"format", "pt"}});
  SafetensorsReader back((tmp / "c.safetensors").string());
  check_twins(bin, back);
}
