// safetensors writer/reader: round trips in every dtype, the official byte
// layout (byte-identical rewrite of files written by the Rust library),
// dtype conversion on load, atomic writes.
#include <catch2/catch.hpp>
#include <cstring>

#include "spt/io/atomic_file.h"
#include "spt/io/safetensors.h"
#include "tests/io/io_test_util.h"

using namespace spt;
using namespace spt::io;
using spt::test::TempDir;

TEST_CASE("safetensors round trip keeps every stored dtype bit-exact", "[io]") {
  TempDir tmp;
  const std::vector<StoredDType> all = {
      StoredDType::BOOL, StoredDType::U8, StoredDType::I8, StoredDType::F8_E5M2,
      StoredDType::F8_E4M3, StoredDType::F8_E8M0, StoredDType::I16, StoredDType::U16,
      StoredDType::F16, StoredDType::BF16, StoredDType::I32, StoredDType::U32, StoredDType::F32,
      StoredDType::C64, StoredDType::F64, StoredDType::I64, StoredDType::U64};
  std::vector<std::vector<unsigned char>> data;
  std::vector<SafetensorsEntry> entries;
  data.reserve(all.size() + 1);
  for (size_t k = 0; k < all.size(); ++k) {
    const Shape shape = {2, static_cast<int64_t>(k % 3) + 1};
    std::vector<unsigned char> bytes(static_cast<size_t>(shape_numel(shape)) * stored_dtype_size(all[k]));
    for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<unsigned char>(i * 37 + k);
    data.push_back(bytes);
    entries.push_back({std::string("t_") + stored_dtype_name(all[k]), all[k], shape, data.back().data()});
  }
  entries.push_back({"empty", StoredDType::F32, {0, 3}, nullptr});
  entries.push_back({"scalar", StoredDType::F64, {}, data[all.size() - 3].data()});  // 8 bytes
  const std::map<std::string, std::string> meta = {{"format", "pt"}, {"note", "ünïcode ✓"}};
  write_safetensors((tmp / "all.safetensors").string(), entries, meta);

  SafetensorsReader r((tmp / "all.safetensors").string());
  CHECK(r.metadata() == meta);
  REQUIRE(r.tensors().size() == entries.size());
  for (const SafetensorsEntry& e : entries) {
    const TensorInfo& t = r.info(e.name);
    CHECK(t.dtype == e.dtype);
    CHECK(t.shape == e.shape);
    const auto raw = r.raw(e.name);
    REQUIRE(raw.size() == t.nbytes());
    if (!raw.empty()) CHECK(std::memcmp(raw.data(), e.data, raw.size()) == 0);
  }
  CHECK(r.header_len() % 8 == 0);
}

TEST_CASE("safetensors round trip of runtime tensors f32 f64 bf16 f16 i32 i64", "[io]") {
  TempDir tmp;
  const std::vector<double> v = {0.0, -1.5, 3.25, 1e-3, 65504.0, -2.0};
  std::vector<std::pair<std::string, Tensor>> ts;
  for (DType dt : {DType::f32, DType::f64, DType::bf16, DType::f16})
    ts.emplace_back(dtype_name(dt), Tensor::from_doubles(v, {2, 3}, dt));
  ts.emplace_back("i32", Tensor::from_ints({1, -2, 3, 2147483647}, {4}, DType::i32));
  ts.emplace_back("i64", Tensor::from_ints({1, -2, int64_t{1} << 50}, {3}, DType::i64));
  write_safetensors((tmp / "rt.safetensors").string(), ts);
  SafetensorsReader r((tmp / "rt.safetensors").string());
  for (const auto& [name, t] : ts) {
    const Tensor back = r.load(name);
    CHECK(back.dtype() == t.dtype());
    CHECK(back.shape() == t.shape());
    CHECK(std::memcmp(back.data_ptr(), t.data_ptr(), t.nbytes()) == 0);
  }
  // Conversions on load: F64 -> f32, F32 -> bf16 (round to nearest even), I32 -> i64.
  CHECK(r.load("f64", DType::f32).to_doubles() == Tensor::from_doubles(v, {2, 3}, DType::f32).to_doubles());
  CHECK(r.load("f32", DType::bf16).to_doubles() == Tensor::from_doubles(v, {2, 3}, DType::bf16).to_doubles());
  CHECK(r.load("bf16", DType::f32).to_doubles() == ts[2].second.to_doubles());
  CHECK(r.load("i32", DType::i64).to_ints() == std::vector<int64_t>{1, -2, 3, 2147483647});
  // Impossible conversions are errors naming the tensor.
  CHECK_THAT(spt::test::error_of([&] { r.load("i64", DType::f32); }),
             Catch::Contains("\"i64\"") && Catch::Contains("cannot convert I64 to f32"));
  CHECK_THAT(spt::test::error_of([&] { r.load("f32", DType::i32); }), Catch::Contains("cannot convert F32"));
  CHECK_THAT(spt::test::error_of([&] { r.load("i64", DType::i32); }), Catch::Contains("do not fit in i32"));
  CHECK_THAT(spt::test::error_of([&] { r.load("nope"); }), Catch::Contains("has no tensor \"nope\""));
}

TEST_CASE("safetensors writer reproduces the official library's bytes", "[io]") {
  // Files written by transformers (Rust safetensors): re-writing their tensors
  // with spt's writer must give the very same file.
  TempDir tmp;
  for (const char* model : {"bert_base", "bert_cls", "gpt2_lm", "llama"}) {
    INFO(model);
    const auto src = spt::test::models_dir() / model / "model.safetensors";
    SafetensorsReader r(src.string());
    std::vector<std::vector<unsigned char>> bufs;
    std::vector<SafetensorsEntry> entries;
    bufs.reserve(r.tensors().size());
    for (const TensorInfo& t : r.tensors()) {
      bufs.push_back(r.raw(t.name));
      entries.push_back({t.name, t.dtype, t.shape, bufs.back().data()});
    }
    write_safetensors((tmp / "copy.safetensors").string(), entries, r.metadata());
    CHECK(spt::test::slurp(tmp / "copy.safetensors") == spt::test::slurp(src));
  }
  // The official layout: spaces pad the header to 8 bytes, metadata comes first.
  const std::string good = spt::test::slurp(spt::test::fixtures_dir() / "safetensors" / "good_minimal.safetensors");
  SafetensorsReader g((spt::test::fixtures_dir() / "safetensors" / "good_minimal.safetensors").string());
  std::vector<std::pair<std::string, Tensor>> one = {{"a", g.load("a")}};
  write_safetensors((tmp / "g.safetensors").string(), one, g.metadata());
  const std::string mine = spt::test::slurp(tmp / "g.safetensors");
  CHECK(mine == good);
  CHECK(mine.substr(8, 16) == "{\"__metadata__\":");
}

TEST_CASE("safetensors writer rejects bad input", "[io]") {
  TempDir tmp;
  const float x[2] = {1, 2};
  const std::string p = (tmp / "x.safetensors").string();
  CHECK_THAT(spt::test::error_of([&] { write_safetensors(p, {{"a", StoredDType::F32, {2}, x}, {"a", StoredDType::F32, {2}, x}}); }),
             Catch::Contains("given twice"));
  CHECK_THAT(spt::test::error_of([&] { write_safetensors(p, {{"__metadata__", StoredDType::F32, {2}, x}}); }),
             Catch::Contains("__metadata__"));
  CHECK_THAT(spt::test::error_of([&] { write_safetensors(p, {{"a", StoredDType::F32, {-2}, x}}); }),
             Catch::Contains("negative shape"));
  CHECK(!std::filesystem::exists(p));
  CHECK(std::filesystem::is_empty(tmp.path()));  // no temp file left behind
}

TEST_CASE("atomic writes replace whole files and leave nothing on failure", "[io]") {
  TempDir tmp;
  const std::string p = (tmp / "f.bin").string();
  write_file_atomic(p, "old contents");
  {
    AtomicFile f(p);
    f.write("new, never committed");
    CHECK(std::filesystem::exists(f.temp_path()));
    CHECK(spt::test::slurp(p) == "old contents");  // readers still see the old file
  }  // dropped without commit (as when an exception unwinds)
  CHECK(spt::test::slurp(p) == "old contents");
  write_file_atomic(p, "new contents");
  CHECK(spt::test::slurp(p) == "new contents");
  size_t files = 0;
  for (const auto& e : std::filesystem::directory_iterator(tmp.path())) files += e.is_regular_file();
  CHECK(files == 1);
  CHECK_THAT(spt::test::error_of([&] { write_file_atomic((tmp / "no" / "dir" / "x").string(), "x"); }),
             Catch::Contains("[io] cannot create") && Catch::Contains("hint:"));
}
