// Malformed checkpoints: every file of the catalogue (tests/fixtures/safetensors,
// written by tools/fixtures/models.py) is rejected with an spt::Error saying
// what is wrong, spt-convert inspect exits non-zero on each, and truncated or
// bit-flipped files never crash the readers (run under ASan too).
#include <catch2/catch.hpp>
#include <cstdlib>
#include <random>

#include "spt/io/json_util.h"
#include "spt/io/safetensors.h"
#include "spt/io/sharded.h"
#include "spt/io/torch_bin.h"
#include "tests/io/io_test_util.h"

using namespace spt;
using namespace spt::io;
using spt::test::error_of;
using spt::test::TempDir;

namespace {

std::filesystem::path catalogue() { return spt::test::fixtures_dir() / "safetensors"; }

// Opens `path` with every reader that could be asked to; returns the error.
std::string open_error(const std::string& path) {
  return error_of([&] { open_tensors(path); });
}

}  // namespace

TEST_CASE("every malformed safetensors file is rejected with a clear message", "[io]") {
  const Json expected = read_json_file((catalogue() / "expected.json").string(), "test");
  REQUIRE(expected.size() >= 15);
  size_t bad_files = 0;
  for (const auto& e : std::filesystem::directory_iterator(catalogue())) {
    const std::string name = e.path().filename().string();
    if (name.rfind("bad_", 0) == 0) ++bad_files;
  }
  CHECK(bad_files == expected.size());  // every bad_ file has an expected message
  for (const auto& [name, fragment] : expected.items()) {
    INFO(name);
    const std::string err = open_error((catalogue() / name).string());
    CHECK_THAT(err, Catch::StartsWith("[safetensors]") && Catch::Contains(name) &&
                        Catch::Contains(fragment.get<std::string>()) && Catch::Contains("hint:"));
  }
  SafetensorsReader good((catalogue() / "good_minimal.safetensors").string());
  CHECK(good.load("a").to_doubles() == std::vector<double>{0, 1, 2, 3});
}

#ifdef SPT_CONVERT_PATH
TEST_CASE("spt-convert inspect exits non-zero on every malformed file", "[io]") {
  const Json expected = read_json_file((catalogue() / "expected.json").string(), "test");
  for (const auto& [name, fragment] : expected.items()) {
    INFO(name);
    const std::string cmd = std::string("'") + SPT_CONVERT_PATH + "' inspect '" +
                            (catalogue() / name).string() + "' > /dev/null 2>&1";
    const int rc = std::system(cmd.c_str());
    CHECK((WIFEXITED(rc) && WEXITSTATUS(rc) == 1));
  }
  const std::string ok = std::string("'") + SPT_CONVERT_PATH + "' inspect '" +
                         (catalogue() / "good_minimal.safetensors").string() + "' > /dev/null 2>&1";
  CHECK(std::system(ok.c_str()) == 0);
  const std::string evil = std::string("'") + SPT_CONVERT_PATH + "' inspect '" +
                           (spt::test::models_dir() / "evil.bin").string() + "' > /dev/null 2>&1";
  const int rc = std::system(evil.c_str());
  CHECK((WIFEXITED(rc) && WEXITSTATUS(rc) == 1));
}
#endif

TEST_CASE("truncated and corrupted checkpoints fail cleanly", "[io]") {
  TempDir tmp;
  const std::string st = spt::test::slurp(spt::test::models_dir() / "gpt2_base" / "model.safetensors");
  const std::string bin = spt::test::slurp(spt::test::models_dir() / "misc_tensors.bin");
  const auto path_st = tmp / "x.safetensors";
  const auto path_bin = tmp / "x.bin";
  // Every short prefix, then a sample through the header and the data.
  for (size_t n = 0; n < st.size(); n += (n < 96 ? 1 : n < 2048 ? 23 : 997)) {
    spt::test::spit(path_st, st.substr(0, n));
    CHECK_THAT(open_error(path_st.string()), Catch::StartsWith("[safetensors]"));
  }
  for (size_t n = 0; n < bin.size(); n += 29) {
    spt::test::spit(path_bin, bin.substr(0, n));
    INFO(n);
    CHECK_THAT(open_error(path_bin.string()), Catch::StartsWith("[torch-bin]"));
  }
  // Random byte flips: an error or a valid file, never a crash or a hang.
  std::mt19937 rng(7);
  for (int round = 0; round < 300; ++round) {
    std::string s = round % 2 ? st : bin;
    const size_t limit = round % 2 ? 1024 : s.size();
    for (int k = 0; k < 3; ++k) s[rng() % limit] = static_cast<char>(rng());
    const auto p = round % 2 ? path_st : path_bin;
    spt::test::spit(p, s);
    try {
      auto r = open_tensors(p.string());
      for (const TensorInfo& t : r->tensors()) (void)r->raw(t.name);
    } catch (const spt::Error&) {
    }
  }
}

TEST_CASE("a torch view that repeats a tiny storage into 400 MB is refused before allocating", "[io]") {
  const std::string err = open_error((spt::test::models_dir() / "expanded.bin").string());
  CHECK_THAT(err, Catch::Contains("blown_up") && Catch::Contains("repeats its storage of 1 elements into 100000000") &&
                      Catch::Contains("hint:"));
}

TEST_CASE("torch pickles naming other callables are refused, never run", "[io]") {
  const std::string err = open_error((spt::test::models_dir() / "evil.bin").string());
  CHECK_THAT(err, Catch::StartsWith("[torch-bin]") && Catch::Contains("posix.system") &&
                      Catch::Contains("hint:"));
  TempDir tmp;
  spt::test::spit(tmp / "notzip.bin", "this is not a zip archive");
  CHECK_THAT(open_error((tmp / "notzip.bin").string()), Catch::Contains("not a zip archive"));
}

TEST_CASE("sharded index errors name the problem", "[io]") {
  TempDir tmp;
  const auto src = spt::test::models_dir() / "gpt2_sharded";
  for (const auto& e : std::filesystem::directory_iterator(src))
    std::filesystem::copy_file(e.path(), tmp / e.path().filename().string());
  const auto index = tmp / "model.safetensors.index.json";
  const std::string good = spt::test::slurp(index);
  ShardedReader ok(index.string());
  CHECK(ok.shards().size() == 3);

  auto with = [&](const std::string& from, const std::string& to) {
    std::string s = good;
    const size_t at = s.find(from);
    REQUIRE(at != std::string::npos);
    s.replace(at, from.size(), to);
    spt::test::spit(index, s);
    return open_error(tmp.path().string());
  };
  CHECK_THAT(with("model-00003-of-00003.safetensors", "model-00009-of-00009.safetensors"),
             Catch::Contains("is missing"));
  CHECK_THAT(with("model-00003-of-00003.safetensors", "../model-00003-of-00003.safetensors"),
             Catch::Contains("plain file name"));
  CHECK_THAT(with("\"transformer.h.0.attn.c_attn.bias\": \"model-00001-of-00003.safetensors\"",
                  "\"transformer.h.0.attn.c_attn.bias\": \"model-00003-of-00003.safetensors\""),
             Catch::Contains("does not hold it"));
  CHECK_THAT(with("\"weight_map\"", "\"weights\""), Catch::Contains("weight_map"));
  CHECK_THAT(with("\"metadata\": {", "\"metadata\": {,"), Catch::Contains("not valid JSON: line 2"));
}
