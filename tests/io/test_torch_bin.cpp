// pytorch_model.bin (torch.save zip + pickle) read without Python: every
// tensor equals its safetensors twin written from the same state dict.
#include <catch2/catch.hpp>
#include <cstdlib>
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

#ifdef SPT_CONVERT_PATH
TEST_CASE("spt-convert bin-to-safetensors, import-hf and export-hf run end to end", "[io]") {
  spt::test::TempDir tmp;
  const std::string tool = std::string("'") + SPT_CONVERT_PATH + "' ";
  const auto run = [&](const std::string& args) {
    return std::system((tool + args + " > /dev/null 2>&1").c_str());
  };
  const auto bin = spt::test::models_dir() / "bert_base" / "pytorch_model.bin";
  REQUIRE(run("bin-to-safetensors '" + bin.string() + "' '" + (tmp / "b.safetensors").string() + "'") == 0);
  SafetensorsReader converted((tmp / "b.safetensors").string());
  SafetensorsReader twin((spt::test::models_dir() / "bert_base" / "model.safetensors").string());
  for (const TensorInfo& t : twin.tensors()) CHECK(converted.raw(t.name) == twin.raw(t.name));
  CHECK(converted.metadata().at("format") == "pt");

  const auto src = spt::test::models_dir() / "gpt2_sharded";
  REQUIRE(run("import-hf '" + src.string() + "' '" + (tmp / "ck").string() + "'") == 0);
  REQUIRE(run("export-hf '" + (tmp / "ck").string() + "' '" + (tmp / "hf").string() + "'") == 0);
  SafetensorsReader out((tmp / "hf" / "model.safetensors").string());
  const auto ref = open_tensors(src.string());
  REQUIRE(out.tensors().size() == ref->tensors().size());
  for (const TensorInfo& t : ref->tensors()) CHECK(out.raw(t.name) == ref->raw(t.name));
  // Errors exit with status 1: exporting into a non-empty folder, a missing input.
  CHECK(run("export-hf '" + (tmp / "ck").string() + "' '" + (tmp / "hf").string() + "'") == 256);
  CHECK(run("inspect '" + (tmp / "nope").string() + "'") == 256);
}
#endif
