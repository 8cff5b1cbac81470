// GGUF reader and dequantisation:
//   * tests/fixtures/gguf/types.gguf (written by gguf-py, tools/fixtures/gguf_fixtures.py):
//     every metadata value type read back exactly, every dequantisable type equal
//     to gguf.quants.dequantize bit for bit, an unsupported type refused by name,
//     and the file served through open_tensors();
//   * tests/fixtures/gguf/tiny_llama.gguf (a random transformers LLaMA written the
//     way llama.cpp converts it): import-gguf gives back the HF tensors bit for
//     bit (Q/K rows un-permuted), the config, and a tokenizer.json whose ids equal
//     the `tokenizers` library's;
//   * hand-built malformed files, each refused with a message naming the problem,
//     and every truncation of the fixture refused without a crash.
#include <catch2/catch.hpp>
#include <algorithm>
#include <cstring>
#include <functional>

#include "spt/io/gguf.h"
#include "spt/io/gguf_import.h"
#include "spt/io/model_config.h"
#include "spt/tokenize/tokenizer.h"
#include "spt/io/safetensors.h"
#include "tests/io/io_test_util.h"

using namespace spt;
using namespace spt::io;
using spt::test::error_of;
using spt::test::slurp;
using spt::test::spit;
using spt::test::TempDir;

namespace {

std::filesystem::path fixture(const std::string& name) { return spt::test::fixtures_dir() / "gguf" / name; }

// Little-endian GGUF bytes, field by field.
struct Bytes {
  std::string b;
  Bytes& u8(uint8_t v) { return raw(&v, 1); }
  Bytes& u32(uint32_t v) { return raw(&v, 4); }
  Bytes& u64(uint64_t v) { return raw(&v, 8); }
  Bytes& str(const std::string& s) {
    u64(s.size());
    b += s;
    return *this;
  }
  Bytes& raw(const void* p, size_t n) {
    b.append(static_cast<const char*>(p), n);
    return *this;
  }
  Bytes& pad(size_t align) {
    while (b.size() % align) b += '\0';
    return *this;
  }
};

Bytes header(uint64_t tensors, uint64_t kvs, uint32_t version = 3) {
  Bytes h;
  h.raw("GGUF", 4).u32(version).u64(tensors).u64(kvs);
  return h;
}

// A tensor info: name, ne, type, offset.
void tensor_info(Bytes& b, const std::string& name, std::vector<uint64_t> ne, uint32_t type, uint64_t offset) {
  b.str(name).u32(static_cast<uint32_t>(ne.size()));
  for (uint64_t d : ne) b.u64(d);
  b.u32(type).u64(offset);
}

// Writes `bytes` to dir/name and returns the error GgufFile gives on it.
std::string open_error(const TempDir& dir, const std::string& name, const std::string& bytes) {
  spit(dir / name, bytes);
  return error_of([&] { GgufFile f((dir / name).string()); });
}

}  // namespace

TEST_CASE("GGUF metadata of every value type reads back exactly", "[io][gguf]") {
  const GgufFile f(fixture("types.gguf").string());
  CHECK(f.header().version == 3);
  CHECK(f.header().alignment == 64);
  CHECK(f.header().data_start % 64 == 0);
  CHECK(f.get_string("general.architecture") == "llama");
  CHECK(f.get_int("test.u8") == 200);
  CHECK(f.get_int("test.i8") == -100);
  CHECK(f.get_int("test.u16") == 60000);
  CHECK(f.get_int("test.i16") == -30000);
  CHECK(f.get_int("test.u32") == 4000000000LL);
  CHECK(f.get_int("test.i32") == -2000000000LL);
  CHECK(f.get_float("test.f32") == 0.15625);
  CHECK(f.get_bool("test.bool"));
  CHECK(f.get_string("test.string") == "h\xc3\xa9llo w\xc3\xb6rld");
  CHECK(f.find("test.u64")->u == 18000000000000000000ULL);
  CHECK(f.get_int("test.i64") == -9000000000000000000LL);
  CHECK(f.get_float("test.f64") == -2.5e-300);
  CHECK(f.get_ints("test.arr_u8") == std::vector<int64_t>{1, 2, 255});
  CHECK(f.get_ints("test.arr_i32") == std::vector<int64_t>{-1, 0, 7});
  CHECK(f.get_floats("test.arr_f32") == std::vector<double>{0.5, -1.0});
  CHECK(f.get_strings("test.arr_str") == std::vector<std::string>{"a", "", "\xc4\xa0the"});
  const GgufValue* bools = f.find("test.arr_bool");
  REQUIRE(bools != nullptr);
  REQUIRE(bools->items.size() == 2);
  CHECK((bools->elem == GgufValueType::boolean && bools->items[0].u == 1 && bools->items[1].u == 0));
  const GgufValue* nested = f.find("test.arr_arr");
  REQUIRE(nested != nullptr);
  REQUIRE((nested->elem == GgufValueType::array && nested->items.size() == 2));
  CHECK(nested->items[1].items.size() == 1);
  CHECK(nested->items[1].items[0].i == 3);
  // Wrong types and absent keys name the file and the key.
  CHECK_THAT(error_of([&] { f.get_string("test.u8"); }),
             Catch::Contains("types.gguf") && Catch::Contains("\"test.u8\" must be a string, got u8 200"));
  CHECK_THAT(error_of([&] { f.get_int("no.such.key"); }), Catch::Contains("no metadata key \"no.such.key\""));
  CHECK(f.find("test.u64") != nullptr);
  CHECK_THAT(error_of([&] { f.get_int("test.u64"); }), Catch::Contains("too large"));
  CHECK(!f.int_or("no.such.key").has_value());
}

TEST_CASE("GGUF dequantisation matches gguf-py bit for bit for every supported type", "[io][gguf]") {
  const GgufFile f(fixture("types.gguf").string());
  const SafetensorsReader ref(fixture("types_reference.safetensors").string());
  int checked = 0;
  for (const char* type : {"f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "q4_k", "q5_k", "q6_k"}) {
    const std::string name = std::string("t.") + type;
    INFO(name);
    const Tensor got = f.dequantize(name);
    const Tensor want = ref.load(name);
    REQUIRE(got.shape() == Shape{3, 256});
    REQUIRE(want.shape() == got.shape());
    CHECK(std::memcmp(got.data<float>(), want.data<float>(), 3 * 256 * sizeof(float)) == 0);
    ++checked;
  }
  CHECK(checked == 11);
  CHECK_THAT(error_of([&] { f.dequantize("t.q2_k"); }),
             Catch::Contains("\"t.q2_k\" has type Q2_K") && Catch::Contains("Q4_K, Q5_K, Q6_K"));
}

TEST_CASE("a GGUF file opens through open_tensors with its tensors as F32", "[io][gguf]") {
  const auto r = open_tensors(fixture("types.gguf").string());
  CHECK(r->format() == "gguf v3");
  REQUIRE(r->find("t.q4_1") != nullptr);
  CHECK(r->info("t.q4_1").dtype == StoredDType::F32);
  const SafetensorsReader ref(fixture("types_reference.safetensors").string());
  CHECK(r->load("t.q4_1").to_doubles() == ref.load("t.q4_1").to_doubles());
  CHECK(r->metadata().at("general.architecture") == "llama");
}

TEST_CASE("malformed GGUF files are refused with a message naming the problem", "[io][gguf]") {
  TempDir dir;
  const float w[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  // One kv (a u32) and tensors laid out by the caller.
  auto file = [&](uint64_t n_tensors, const std::function<void(Bytes&)>& infos, uint32_t align = 32) {
    Bytes b = header(n_tensors, 1);
    b.str("general.alignment").u32(4).u32(align);
    infos(b);
    b.pad(align == 0 || (align & (align - 1)) ? 32 : align);
    b.raw(w, sizeof(w));
    return b.b;
  };
  const std::string good = file(1, [](Bytes& b) { tensor_info(b, "w", {4, 2}, 0, 0); });
  spit(dir / "good.gguf", good);
  CHECK(GgufFile((dir / "good.gguf").string()).dequantize("w").to_doubles() ==
        std::vector<double>{1, 2, 3, 4, 5, 6, 7, 8});
  CHECK(GgufFile((dir / "good.gguf").string()).tensor("w").shape() == Shape{2, 4});

  struct Case {
    std::string name, bytes, fragment;
  };
  Bytes huge_kv = header(0, uint64_t{1} << 60);
  Bytes huge_str = header(0, 1);
  huge_str.u64(uint64_t{1} << 62).u32(8).u8(0);  // enough bytes left for one key-value
  Bytes huge_array = header(0, 1);
  huge_array.str("a").u32(9).u32(8).u64(uint64_t{1} << 40);
  Bytes deep = header(0, 1);
  deep.str("deep").u32(9);  // an array of arrays of arrays ...
  for (int i = 0; i < 6; ++i) deep.u32(9).u64(1);
  Bytes bad_bool = header(0, 1);
  bad_bool.str("b").u32(7).u8(2);
  Bytes bad_vtype = header(0, 1);
  bad_vtype.str("k").u32(13).u32(0);
  Bytes dup_key = header(0, 2);
  dup_key.str("k").u32(4).u32(1).str("k").u32(4).u32(2);
  Bytes v1 = header(0, 0, 1), big_endian = header(0, 0, 0x03000000u);
  std::string bad_magic = good;
  bad_magic[0] = 'X';
  const std::vector<Case> cases = {
      {"bad_magic.gguf", bad_magic, "not a GGUF file"},
      {"v1.gguf", v1.b, "GGUF version 1 is not supported"},
      {"big_endian.gguf", big_endian.b, "big-endian"},
      {"huge_kv.gguf", huge_kv.b, "claims 1152921504606846976 entries"},
      {"huge_string.gguf", huge_str.b, "a metadata key needs 4611686018427387904 bytes"},
      {"huge_array.gguf", huge_array.b, "the array of key \"a\" claims 1099511627776 entries"},
      {"deep.gguf", deep.b, "nests arrays more than 4 deep"},
      {"bad_bool.gguf", bad_bool.b, "bool byte 2"},
      {"bad_vtype.gguf", bad_vtype.b, "key \"k\" has unknown value type 13"},
      {"dup_key.gguf", dup_key.b, "metadata key \"k\" appears twice"},
      {"alignment.gguf", file(1, [](Bytes& b) { tensor_info(b, "w", {4, 2}, 0, 0); }, 24),
       "general.alignment must be a u32 power of two"},
      {"dims.gguf", file(1, [](Bytes& b) { tensor_info(b, "w", {4, 2, 1, 1, 1}, 0, 0); }), "has 5 dimensions"},
      {"overflow.gguf", file(1, [](Bytes& b) { tensor_info(b, "w", {uint64_t{1} << 40, uint64_t{1} << 40}, 0, 0); }),
       "dimensions too large"},
      {"type.gguf", file(1, [](Bytes& b) { tensor_info(b, "w", {4, 2}, 4, 0); }), "unknown ggml type 4"},
      {"block.gguf", file(1, [](Bytes& b) { tensor_info(b, "w", {48, 1}, 3, 0); }),
       "rows of 48 values, not a multiple of its block of 32"},
      {"misaligned.gguf", file(1, [](Bytes& b) { tensor_info(b, "w", {2, 1}, 0, 8); }),
       "not a multiple of the alignment 32"},
      {"past_end.gguf", file(1, [](Bytes& b) { tensor_info(b, "w", {4, 4}, 0, 0); }), "runs past the end of the file"},
      {"dup_tensor.gguf",
       file(2, [](Bytes& b) { tensor_info(b, "w", {1}, 0, 0); tensor_info(b, "w", {1}, 0, 32); }),
       "tensor \"w\" appears twice"},
      {"overlap.gguf",
       file(2, [](Bytes& b) { tensor_info(b, "w", {4, 2}, 0, 0); tensor_info(b, "v", {1}, 0, 0); }),
       "overlap"},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    CHECK_THAT(open_error(dir, c.name, c.bytes),
               Catch::StartsWith("[gguf]") && Catch::Contains(c.name) && Catch::Contains(c.fragment) &&
                   Catch::Contains("hint:"));
  }
}

TEST_CASE("every truncation of a GGUF file is refused without a crash", "[io][gguf]") {
  TempDir dir;
  const std::string bytes = slurp(fixture("types.gguf"));
  const GgufFile whole(fixture("types.gguf").string());
  REQUIRE(bytes.size() > whole.header().data_start);
  // Every cut inside the header and a sample of cuts inside the data, up to the
  // end of the last tensor (gguf-py pads the file after it).
  uint64_t data_end = 0;
  for (const GgufTensor& t : whole.tensors()) data_end = std::max(data_end, t.offset + t.nbytes);
  data_end += whole.header().data_start;
  REQUIRE(data_end <= bytes.size());
  for (size_t n = 0; n < data_end; n += n < whole.header().data_start ? 1 : 97) {
    const std::string err = open_error(dir, "cut.gguf", bytes.substr(0, n));
    INFO("cut at " << n);
    CHECK_THAT(err, Catch::StartsWith("[gguf]"));
  }
}

TEST_CASE("import-gguf turns a llama.cpp-converted LLaMA back into its Hugging Face tensors", "[io][gguf]") {
  const GgufFile f(fixture("tiny_llama.gguf").string());
  const SafetensorsReader ref(fixture("tiny_llama_reference.safetensors").string());
  const HfFromGguf hf = hf_from_gguf(f);
  CHECK(hf.config["model_type"] == "llama");
  CHECK(hf.config["hidden_size"] == 16);
  CHECK(hf.config["num_attention_heads"] == 4);
  CHECK(hf.config["num_key_value_heads"] == 2);
  CHECK(hf.config["head_dim"] == 4);
  CHECK(hf.config["tie_word_embeddings"] == false);
  CHECK(hf.config["bos_token_id"] == 1);
  CHECK(hf.tokenizer_config["bos_token"] == "<|im_start|>");
  CHECK(hf.tokenizer_config["add_bos_token"] == true);
  size_t matched = 0;
  for (const auto& [name, t] : hf.tensors) {
    INFO(name);
    REQUIRE(ref.find(name) != nullptr);
    const Tensor want = ref.load(name);
    REQUIRE(t.shape() == want.shape());
    CHECK(std::memcmp(t.data<float>(), want.data<float>(), static_cast<size_t>(t.numel()) * 4) == 0);
    ++matched;
  }
  CHECK(matched + 1 == ref.tensors().size());  // every HF tensor (the reference also holds "ids")

  TempDir dir;
  import_gguf(fixture("tiny_llama.gguf").string(), (dir / "hf").string());
  const ModelConfig cfg = load_model_config((dir / "hf").string());
  CHECK(cfg.family == ModelFamily::llama);
  CHECK(cfg.llama.num_key_value_heads == 2);
  CHECK(!cfg.tie_word_embeddings);
  const auto tok = spt::tokenize::load_tokenizer(dir / "hf");
  const Tensor ids = ref.load("ids");
  std::vector<int32_t> want;
  for (double v : ids.to_doubles()) want.push_back(static_cast<int32_t>(v));
  CHECK(tok->encode(ref.metadata().at("text")).ids == want);
  CHECK_THAT(error_of([&] { import_gguf(fixture("tiny_llama.gguf").string(), (dir / "hf").string()); }),
             Catch::Contains("hf"));  // never replaces a non-empty folder
}

TEST_CASE("import-gguf refuses files it cannot convert, naming the key", "[io][gguf]") {
  const GgufFile types(fixture("types.gguf").string());  // architecture llama, no llama.* keys
  CHECK_THAT(error_of([&] { hf_config_from_gguf(types); }),
             Catch::Contains("types.gguf") && Catch::Contains("no metadata key \"llama.embedding_length\""));
  // The row order: a (heads * d, cols) matrix with d = 4, one column.
  const Tensor w = Tensor::from_doubles({0, 1, 2, 3, 4, 5, 6, 7}, {8, 1}, DType::f32);
  CHECK(unpermute_qk_rows(w, 2).to_doubles() == std::vector<double>{0, 2, 1, 3, 4, 6, 5, 7});
}
