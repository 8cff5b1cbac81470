// spt's tokenizers against Hugging Face on the whole stress corpus (2,000+ lines):
// ids of every line, of consecutive line pairs (with token type ids), truncation
// variants and padded batches must be identical -- 100%, reporting the first mismatch.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "spt/core/error.h"
#include "spt/tokenize/bpe.h"
#include "spt/tokenize/sentencepiece.h"
#include "spt/tokenize/tokenizer.h"
#include "tests/test_paths.h"
#include "tests/tokenize/corpus.h"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using spt::tokenize::EncodeOptions;
using spt::tokenize::Encoding;
using spt::tokenize::Tokenizer;

std::string show(const std::vector<int32_t>& v) { return json(v).dump(); }

struct Tally {
  size_t lines = 0, ids = 0;
};

// Fails with the first mismatching line and both id lists.
void expect_ids(const std::string& what, size_t i, const std::string& text,
                const std::vector<int32_t>& got, const json& want, Tally& t) {
  const auto ref = want.get<std::vector<int32_t>>();
  if (got != ref)
    FAIL(what << ": first mismatch at line " << i << " " << json(text).dump() << "\n  spt: "
              << show(got) << "\n  HF:  " << show(ref));
  ++t.lines;
  t.ids += ref.size();
}

void expect_first_len(const std::string& what, size_t i, const Encoding& e, const json& n) {
  std::vector<int32_t> want(e.size(), 1);
  std::fill(want.begin(), want.begin() + n.get<std::ptrdiff_t>(), 0);
  if (e.type_ids != want)
    FAIL(what << ": token type ids differ at pair " << i << "\n  spt: " << show(e.type_ids)
              << "\n  HF:  " << show(want));
}

// Checks `tok` on everything reference/<name>.json.gz holds; returns the tally.
Tally check_reference(const Tokenizer& tok, const std::string& name) {
  const auto& lines = spt::test::tokenizer_corpus();
  const json ref = spt::test::read_reference(name);
  REQUIRE(ref["corpus_lines"].get<size_t>() == lines.size());
  REQUIRE(ref["corpus_fnv1a64"].get<std::string>() == spt::test::fnv1a64(lines));
  Tally t;
  for (size_t i = 0; i < lines.size(); ++i)
    expect_ids(name + " single", i, lines[i], tok.encode(lines[i]).ids, ref["single"][i], t);

  const size_t n_pairs = lines.size() / 2;
  auto first = [&](size_t p) { return lines[2 * p]; };
  auto second = [&](size_t p) { return lines[2 * p + 1]; };
  REQUIRE(ref["pair"].size() == n_pairs);
  for (size_t p = 0; p < n_pairs; ++p) {
    const Encoding e = tok.encode_pair(first(p), second(p));
    expect_ids(name + " pair", 2 * p, first(p) + "\t" + second(p), e.ids, ref["pair"][p], t);
    expect_first_len(name + " pair", p, e, ref["pair_first_len"][p]);
  }

  for (const auto& tr : ref["truncation"]) {
    EncodeOptions o;
    o.truncation = spt::tokenize::parse_truncation(tr["strategy"].get<std::string>());
    o.max_length = tr["max_length"].get<size_t>();
    const bool pair = tr["pair"].get<bool>();
    const std::string what = name + " truncation " + tr["strategy"].get<std::string>() + " " +
                             std::to_string(*o.max_length) + (pair ? " pair" : " single");
    for (size_t i = 0; i < tr["ids"].size(); ++i) {
      const std::string text = pair ? first(i) + "\t" + second(i) : lines[i];
      if (tr["ids"][i].is_null()) {  // HF raised "Truncation error"
        if (pair) CHECK_THROWS_AS(tok.encode_pair(first(i), second(i), o), spt::Error);
        else CHECK_THROWS_AS(tok.encode(lines[i], o), spt::Error);
        ++t.lines;
        continue;
      }
      const Encoding e = pair ? tok.encode_pair(first(i), second(i), o) : tok.encode(lines[i], o);
      expect_ids(what, i, text, e.ids, tr["ids"][i], t);
      expect_first_len(what, i, e, tr["first_len"][i]);
    }
  }

  for (const auto& pd : ref["padded"]) {
    EncodeOptions o;
    const bool pair = pd["pair"].get<bool>();
    o.padding = pd["padding"] == "longest" ? spt::tokenize::Padding::longest
                                           : spt::tokenize::Padding::max_length;
    if (!pd["max_length"].is_null()) {
      o.max_length = pd["max_length"].get<size_t>();
      o.truncation = spt::tokenize::Truncation::longest_first;
    }
    const size_t bs = pd["batch_size"].get<size_t>();
    for (size_t b = 0; b < pd["batches"].size(); ++b) {
      const json& want = pd["batches"][b];
      std::vector<Encoding> got;
      if (pair) {
        std::vector<std::pair<std::string, std::string>> rows;
        for (size_t p = b * bs; p < (b + 1) * bs && p < n_pairs; ++p) rows.emplace_back(first(p), second(p));
        got = tok.encode_batch(rows, o);
      } else {
        std::vector<std::string> rows(lines.begin() + static_cast<std::ptrdiff_t>(b * bs),
                                      lines.begin() + static_cast<std::ptrdiff_t>(std::min(lines.size(), (b + 1) * bs)));
        got = tok.encode_batch(rows, o);
      }
      REQUIRE(got.size() == want["input_ids"].size());
      const std::string what = name + " padded " + pd["padding"].get<std::string>() +
                               (pair ? " pair" : " single") + " batch " + std::to_string(b);
      for (size_t r = 0; r < got.size(); ++r) {
        expect_ids(what + " input_ids", b * bs + r, "", got[r].ids, want["input_ids"][r], t);
        INFO(what << " row " << r);
        CHECK(got[r].attention_mask == want["attention_mask"][r].get<std::vector<int32_t>>());
        CHECK(got[r].type_ids == want["token_type_ids"][r].get<std::vector<int32_t>>());
      }
    }
  }
  WARN(name << ": " << t.lines << " encodings, " << t.ids << " ids identical to HF");
  return t;
}

void require_dir(const fs::path& p, const char* hint) {
  if (!fs::exists(p)) FAIL(p << " not found; " << hint);
}

}  // namespace

TEST_CASE("WordPiece uncased (all-MiniLM-L6-v2) matches HF on the corpus", "[tokenize]") {
  const fs::path dir = spt::test::minilm_dir();
  require_dir(dir / "tokenizer.json", "run scripts/fetch_minilm.sh (or set SPT_CACHE)");
  SECTION("from tokenizer.json") { check_reference(*spt::tokenize::load_tokenizer(dir), "bert_uncased"); }
  SECTION("from vocab.txt + tokenizer_config.json") {
    check_reference(*spt::tokenize::load_tokenizer(dir / "vocab.txt"), "bert_uncased");
  }
}

TEST_CASE("WordPiece cased (trained fixture) matches HF on the corpus", "[tokenize]") {
  const fs::path dir = spt::test::fixtures_dir() / "tokenizers" / "bert_cased";
  SECTION("from tokenizer.json") { check_reference(*spt::tokenize::load_tokenizer(dir), "bert_cased"); }
  SECTION("from vocab.txt + tokenizer_config.json") {
    check_reference(*spt::tokenize::load_tokenizer(dir / "vocab.txt"), "bert_cased");
  }
}

TEST_CASE("GPT-2 byte-level BPE matches HF on the corpus", "[tokenize]") {
  const fs::path dir = spt::test::assets_dir() / "gpt2-bpe";
  require_dir(dir / "vocab.json", "set SPT_ASSETS to the shared data folder holding gpt2-bpe/");
  SECTION("from vocab.json + merges.txt") {
    check_reference(*spt::tokenize::load_tokenizer(dir), "gpt2");
  }
  SECTION("from a tokenizer.json of type BPE with the ByteLevel pre-tokenizer") {
    // Written here from the real files, as transformers would save GPT-2's tokenizer.json.
    std::ifstream vocab(dir / "vocab.json"), merges(dir / "merges.txt");
    json j;
    j["version"] = "1.0";
    j["added_tokens"] = json::array({{{"id", 50256}, {"content", "<|endoftext|>"},
                                      {"single_word", false}, {"lstrip", false}, {"rstrip", false},
                                      {"normalized", false}, {"special", true}}});
    j["normalizer"] = nullptr;
    j["pre_tokenizer"] = {{"type", "ByteLevel"}, {"add_prefix_space", false},
                          {"trim_offsets", true}, {"use_regex", true}};
    j["post_processor"] = {{"type", "ByteLevel"}, {"add_prefix_space", true},
                           {"trim_offsets", false}, {"use_regex", true}};
    j["model"] = {{"type", "BPE"}, {"vocab", json::parse(vocab)}, {"merges", json::array()}};
    std::string line;
    std::getline(merges, line);  // #version
    while (std::getline(merges, line))
      if (!line.empty()) j["model"]["merges"].push_back(line);
    const fs::path tmp = fs::temp_directory_path() / "spt_test_gpt2_tokenizer";
    fs::create_directories(tmp);
    std::ofstream(tmp / "tokenizer.json") << j.dump();
    check_reference(*spt::tokenize::load_tokenizer(tmp / "tokenizer.json"), "gpt2");
    fs::remove_all(tmp);
  }
}

TEST_CASE("SentencePiece (LLaMA-style model) matches HF LlamaTokenizer on the corpus", "[tokenize]") {
  const fs::path dir = spt::test::fixtures_dir() / "tokenizers" / "spm";
  const auto tok = spt::tokenize::load_tokenizer(dir);
  REQUIRE(tok->family() == "sentencepiece");
  check_reference(*tok, "llama");

  // Plain sentencepiece (the C library here, Python's in the script) differs from HF
  // exactly on the lines recorded by the script: leading spaces and special-token text.
  const auto& spm = dynamic_cast<const spt::tokenize::SentencePieceTokenizer&>(*tok);
  const json ref = spt::test::read_reference("llama");
  const auto& lines = spt::test::tokenizer_corpus();
  std::vector<size_t> differ;
  for (size_t i = 0; i < lines.size(); ++i) {
    std::vector<int32_t> plain = {*tok->special().bos_id};
    const auto ids = spm.encode_plain(lines[i]);
    plain.insert(plain.end(), ids.begin(), ids.end());
    if (plain != ref["single"][i].get<std::vector<int32_t>>()) differ.push_back(i);
  }
  CHECK(differ == ref["spm_lib_mismatches"].get<std::vector<size_t>>());
}
