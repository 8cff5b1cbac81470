// Malformed or missing tokenizer files and bad input give a clear spt::Error naming
// the file (and line); plus small hand-checked cases of each tokenizer's rules.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "spt/core/error.h"
#include "spt/tokenize/bpe.h"
#include "spt/tokenize/tokenizer.h"
#include "spt/tokenize/utf8.h"
#include "spt/tokenize/wordpiece.h"
#include "tests/test_paths.h"

namespace {

namespace fs = std::filesystem;
using spt::tokenize::load_tokenizer;
using Catch::Matchers::Contains;

// A fresh temporary folder holding the given files.
struct TempDir {
  fs::path path;
  explicit TempDir(const std::string& name) : path(fs::temp_directory_path() / ("spt_tok_" + name)) {
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  fs::path write(const std::string& file, const std::string& text) const {
    std::ofstream(path / file, std::ios::binary) << text;
    return path / file;
  }
};

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const spt::Error& e) {
    return e.what();
  }
  FAIL("expected spt::Error");
  return "";
}

const char* kBertVocab = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhello\nworld\n##s\n,\n!\n";

}  // namespace

TEST_CASE("tokenizer files: missing and malformed files name the file", "[tokenize]") {
  TempDir d("errors");
  SECTION("missing path") {
    CHECK_THAT(error_of([&] { load_tokenizer(d.path / "nope"); }), Contains("does not exist"));
  }
  SECTION("empty folder") {
    CHECK_THAT(error_of([&] { load_tokenizer(d.path); }), Contains("no tokenizer files"));
  }
  SECTION("vocab.txt with invalid UTF-8 reports the line") {
    const auto f = d.write("vocab.txt", "[PAD]\n[UNK]\nbad\xff\n");
    const std::string msg = error_of([&] { load_tokenizer(f); });
    CHECK_THAT(msg, Contains("vocab.txt line 3") && Contains("invalid UTF-8"));
  }
  SECTION("vocab.txt without [UNK]") {
    const auto f = d.write("vocab.txt", "[CLS]\n[SEP]\nhello\n");
    CHECK_THAT(error_of([&] { load_tokenizer(f); }), Contains("[UNK]"));
  }
  SECTION("vocab.json that is not JSON reports the line") {
    d.write("vocab.json", "{\"a\": 0,\n\"b\": }\n");
    d.write("merges.txt", "#version: 0.2\na b\n");
    const std::string msg = error_of([&] { load_tokenizer(d.path); });
    CHECK_THAT(msg, Contains("vocab.json line 2") && Contains("malformed JSON"));
  }
  SECTION("vocab.json with a non-integer id") {
    d.write("vocab.json", "{\"a\": \"x\"}");
    d.write("merges.txt", "#version: 0.2\n");
    CHECK_THAT(error_of([&] { load_tokenizer(d.path); }), Contains("vocab.json") && Contains("'a'"));
  }
  SECTION("merges.txt with a bad line reports the line") {
    d.write("vocab.json", "{\"a\": 0, \"b\": 1, \"ab\": 2}");
    d.write("merges.txt", "#version: 0.2\na b\nabc\n");
    CHECK_THAT(error_of([&] { load_tokenizer(d.path); }), Contains("merges.txt line 3"));
  }
  SECTION("merges.txt using unknown tokens") {
    d.write("vocab.json", "{\"a\": 0, \"b\": 1}");
    d.write("merges.txt", "a b\n");
    CHECK_THAT(error_of([&] { load_tokenizer(d.path); }), Contains("merge 1 'a b'"));
  }
  SECTION("vocab.json without merges.txt") {
    const auto f = d.write("vocab.json", "{\"a\": 0}");
    CHECK_THAT(error_of([&] { load_tokenizer(f); }), Contains("merges.txt"));
  }
  SECTION("tokenizer.json truncated") {
    d.write("tokenizer.json", "{\"model\": {\"type\": \"WordPiece\",\n \"vocab\": {");
    CHECK_THAT(error_of([&] { load_tokenizer(d.path); }), Contains("tokenizer.json line 2"));
  }
  SECTION("tokenizer.json without a model") {
    const auto f = d.write("tokenizer.json", "{\"version\": \"1.0\"}");
    CHECK_THAT(error_of([&] { load_tokenizer(f); }), Contains("tokenizer.json") && Contains("model"));
  }
  SECTION("tokenizer.json with a vocabulary id gap") {
    const auto f = d.write("tokenizer.json",
        R"({"model": {"type": "WordPiece", "unk_token": "[UNK]", "vocab": {"[UNK]": 0, "a": 2}},
            "pre_tokenizer": {"type": "BertPreTokenizer"}, "normalizer": null})");
    CHECK_THAT(error_of([&] { load_tokenizer(f); }), Contains("tokenizer.json") && Contains("id"));
  }
  SECTION("tokenizer.json of an unsupported model") {
    const auto f = d.write("tokenizer.json", R"({"model": {"type": "Unigram", "vocab": []}})");
    CHECK_THAT(error_of([&] { load_tokenizer(f); }), Contains("Unigram"));
  }
  SECTION("a SentencePiece model that is not one") {
    const auto f = d.write("tokenizer.model", "this is not a protobuf \xff\xff\xff\xff");
    CHECK_THAT(error_of([&] { load_tokenizer(f); }), Contains("tokenizer.model"));
  }
}

TEST_CASE("tokenizer input: invalid UTF-8 and bad options throw", "[tokenize]") {
  TempDir d("input");
  const auto tok = load_tokenizer(d.write("vocab.txt", kBertVocab));
  CHECK_THAT(error_of([&] { tok->encode("ok \xc3\x28 bad"); }), Contains("invalid UTF-8 at byte 3"));
  CHECK_THAT(error_of([&] { tok->encode("a\xed\xa0\x80"); }), Contains("invalid UTF-8"));  // surrogate
  CHECK_THAT(error_of([&] { tok->encode("a\xc0\xaf"); }), Contains("invalid UTF-8"));      // overlong
  spt::tokenize::EncodeOptions o;
  o.truncation = spt::tokenize::Truncation::longest_first;
  CHECK_THAT(error_of([&] { tok->encode("hello", o); }), Contains("max_length"));
  o.truncation = spt::tokenize::Truncation::only_second;
  o.max_length = 3;
  CHECK_THAT(error_of([&] { tok->encode("hello world", o); }), Contains("pair"));
  CHECK_THROWS_AS(spt::tokenize::parse_truncation("longest"), spt::Error);
}

TEST_CASE("WordPiece rules on a tiny vocabulary", "[tokenize]") {
  TempDir d("wp");
  const auto tok = load_tokenizer(d.write("vocab.txt", kBertVocab));
  const auto e = tok->encode("HELLO, worlds! Héllo [MASK]x");
  CHECK(e.tokens == std::vector<std::string>{"[CLS]", "hello", ",", "world", "##s", "!", "hello",
                                             "[MASK]", "[UNK]", "[SEP]"});
  CHECK(tok->encode(std::string(101, 'a')).ids == std::vector<int32_t>{2, 1, 3});
  const auto p = tok->encode_pair("hello", "world");
  CHECK(p.ids == std::vector<int32_t>{2, 5, 3, 6, 3});
  CHECK(p.type_ids == std::vector<int32_t>{0, 0, 0, 1, 1});
  CHECK(tok->decode(tok->encode("hello worlds").ids) == "hello worlds");
}

TEST_CASE("truncation and padding follow HF tokenizers", "[tokenize]") {
  TempDir d("trunc");
  const auto tok = load_tokenizer(d.write("vocab.txt", kBertVocab));
  spt::tokenize::EncodeOptions o;
  o.truncation = spt::tokenize::Truncation::longest_first;
  o.max_length = 8;  // 5 tokens for the two sequences
  // Equal lengths: the first gets floor(5/2), the second the odd token.
  auto e = tok->encode_pair("hello hello hello hello", "world world world world", o);
  CHECK(e.ids == std::vector<int32_t>{2, 5, 5, 3, 6, 6, 6, 3});
  // The shorter one fits in half the budget: kept whole.
  e = tok->encode_pair("hello", "world world world world world world", o);
  CHECK(e.ids == std::vector<int32_t>{2, 5, 3, 6, 6, 6, 6, 3});
  o.truncation = spt::tokenize::Truncation::only_first;
  CHECK_THROWS_AS(tok->encode_pair("hello", "world world world world world world", o), spt::Error);
  o.padding = spt::tokenize::Padding::max_length;
  o.max_length = 6;
  e = tok->encode("hello", o);
  CHECK(e.ids == std::vector<int32_t>{2, 5, 3, 0, 0, 0});
  CHECK(e.attention_mask == std::vector<int32_t>{1, 1, 1, 0, 0, 0});
  o.padding_side = spt::tokenize::Side::left;
  CHECK(tok->encode("hello", o).ids == std::vector<int32_t>{0, 0, 0, 2, 5, 3});
}

TEST_CASE("byte-level BPE: byte table and GPT-2 basics", "[tokenize]") {
  const auto& t = spt::tokenize::byte_to_unicode();
  CHECK(t['A'] == U'A');
  CHECK(t[' '] == U'\u0120');  // "Ġ"
  CHECK(t['\n'] == U'\u010A');
  CHECK(t[0xAD] == U'\u0143');
  const fs::path dir = spt::test::assets_dir() / "gpt2-bpe";
  if (!fs::exists(dir / "vocab.json")) FAIL(dir << " not found; set SPT_ASSETS to the shared data folder");
  const auto tok = load_tokenizer(dir);
  const auto e = tok->encode("Hello world<|endoftext|> it's");
  CHECK(e.tokens == std::vector<std::string>{"Hello", "Ġworld", "<|endoftext|>", "Ġit", "'s"});
  CHECK(e.ids == std::vector<int32_t>{15496, 995, 50256, 340, 338});
  CHECK(tok->decode(tok->encode("naïve 🫠 text").ids) == "naïve 🫠 text");
  CHECK(*tok->special().pad_id == 50256);  // pad = eos
}
