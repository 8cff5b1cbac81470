// Causal-LM packing as run_clm's group_texts: documents tokenized whole, joined with
// EOS, cut into block_size blocks, remainder dropped; labels are the input ids.
#include <catch2/catch.hpp>

#include <filesystem>

#include "spt/core/error.h"
#include "spt/data/batching.h"
#include "spt/data/lm_text.h"
#include "tests/data/data_test_util.h"

namespace {

using namespace spt::data;
using Catch::Contains;
using spt::test::data_fixture;
using Ids = std::vector<int32_t>;

const spt::tokenize::Tokenizer& gpt2() {
  static const auto tok = [] {
    const auto dir = spt::test::gpt2_dir();
    if (!std::filesystem::exists(dir / "vocab.json"))
      FAIL(dir << " not found; set SPT_ASSETS to the shared data folder holding gpt2-bpe/");
    return spt::tokenize::load_tokenizer(dir);
  }();
  return *tok;
}

Ids block(const LmBlocks& b, size_t i) {
  return Ids(b.tokens.begin() + static_cast<std::ptrdiff_t>(i * b.block_size),
             b.tokens.begin() + static_cast<std::ptrdiff_t>((i + 1) * b.block_size));
}

Ids concat(std::initializer_list<Ids> parts) {
  Ids out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

}  // namespace

TEST_CASE("pack_blocks joins documents with the separator and drops the remainder", "[data]") {
  const std::vector<Ids> docs = {{1, 2, 3}, {4, 5}, {6, 7, 8, 9}};
  const auto b = pack_blocks(docs, 0, 4);
  CHECK(b.num_blocks() == 2);
  CHECK(block(b, 0) == Ids{1, 2, 3, 0});
  CHECK(block(b, 1) == Ids{4, 5, 0, 6});
  CHECK(b.total_tokens == 11);
  CHECK(b.dropped_tokens == 3);
  CHECK(b.documents == 3);
  const auto plain = pack_blocks(docs, std::nullopt, 4);
  CHECK(block(plain, 1) == Ids{5, 6, 7, 8});
  CHECK(plain.dropped_tokens == 1);
  CHECK(pack_blocks(docs, 0, 4, 1).num_blocks() == 1);
  CHECK(pack_blocks(docs, 0, 11).num_blocks() == 1);
  CHECK(pack_blocks(docs, 0, 12).num_blocks() == 0);
}

TEST_CASE("GPT-2 text files: whole-file documents separated by <|endoftext|>", "[data]") {
  const auto& tok = gpt2();
  REQUIRE(tok.special().eos_id == 50256);
  CHECK(pad_id_for(tok) == 50256);  // GPT-2 has no pad token: pad = eos
  LmOptions o;
  o.block_size = 8;
  const auto b = read_lm_blocks({data_fixture("lm/doc_a.txt"), data_fixture("lm/doc_b.txt")}, tok, o);
  const Ids stream = concat({tok.tokenize("Hello world.\nThis is the first document."), {50256},
                             tok.tokenize("A second document,\n\nwith two paragraphs.")});
  CHECK(b.total_tokens == stream.size());
  REQUIRE(b.num_blocks() == stream.size() / 8);
  CHECK(b.dropped_tokens == stream.size() % 8);
  CHECK(b.documents == 2);
  for (size_t i = 0; i < b.num_blocks(); ++i)
    CHECK(block(b, i) == Ids(stream.begin() + static_cast<std::ptrdiff_t>(8 * i),
                             stream.begin() + static_cast<std::ptrdiff_t>(8 * i + 8)));
  CHECK_THAT(b.source, Contains("doc_a.txt") && Contains("doc_b.txt"));
}

TEST_CASE("Documents per line or per blank-line paragraph", "[data]") {
  const auto& tok = gpt2();
  LmOptions o;
  o.block_size = 2;
  o.documents = DocumentSplit::blank_line;
  const auto para = read_lm_blocks({data_fixture("lm/doc_b.txt")}, tok, o);
  CHECK(para.documents == 2);
  const Ids want = concat({tok.tokenize("A second document,"), {50256},
                           tok.tokenize("with two paragraphs.")});
  CHECK(para.total_tokens == want.size());
  CHECK(Ids(para.tokens.begin(), para.tokens.end()) ==
        Ids(want.begin(), want.begin() + static_cast<std::ptrdiff_t>(para.tokens.size())));
  o.documents = DocumentSplit::line;
  CHECK(read_lm_blocks({data_fixture("lm/doc_a.txt")}, tok, o).documents == 2);
}

TEST_CASE("LM text errors: invalid UTF-8 line, too little text, missing file", "[data]") {
  const auto& tok = gpt2();
  LmOptions o;
  o.block_size = 2;
  CHECK_THROWS_WITH(read_lm_blocks({data_fixture("lm/bad_utf8.txt")}, tok, o),
                    Contains("bad_utf8.txt:2: invalid UTF-8 at byte 5 of the line") &&
                        Contains("hint:"));
  o.skip_bad_rows = true;
  const auto b = read_lm_blocks({data_fixture("lm/bad_utf8.txt")}, tok, o);
  CHECK(b.bad_rows.count == 1);
  CHECK(b.total_tokens == tok.tokenize("good line\nanother good line").size());
  o.block_size = 4096;
  CHECK_THROWS_WITH(read_lm_blocks({data_fixture("lm/doc_a.txt")}, tok, o),
                    Contains("make no block of 4096") && Contains("hint: lower data.block_size"));
  CHECK_THROWS_WITH(read_lm_blocks({data_fixture("lm/nope.txt")}, tok, o),
                    Contains("data.train: ") && Contains("nope.txt not found"));
}

TEST_CASE("LM blocks batch with labels equal to the input ids", "[data]") {
  const auto& tok = gpt2();
  LmOptions o;
  o.block_size = 4;
  const auto blocks = read_lm_blocks({data_fixture("lm/doc_a.txt"), data_fixture("lm/doc_b.txt")},
                                     tok, o);
  const auto data = TokenizedDataset::from_blocks(blocks);
  REQUIRE(data.size() == blocks.num_blocks());
  CHECK(data.label_kind() == LabelKind::causal_lm);
  BatchOptions bo;
  bo.batch_size = 2;
  bo.shuffle = true;
  BatchIterator it(data, bo, pad_id_for(tok));
  Batch b;
  REQUIRE(it.next(b));
  CHECK(b.seq == 4);
  CHECK(b.labels == b.input_ids);
  CHECK(b.attention_mask == std::vector<int32_t>(8, 1));
  CHECK(b.token_type_ids == std::vector<int32_t>(8, 0));
  const auto t = to_tensors(b);
  CHECK(t.labels.shape() == spt::Shape{2, 4});
  CHECK(t.labels.dtype() == spt::DType::i32);
  // Padding to a longer max_length marks labels -100 there.
  bo.pad_to = PadTo::max_length;
  bo.max_length = 6;
  const std::vector<size_t> idx = {0};
  const Batch p = make_batch(data, idx, bo, pad_id_for(tok));
  CHECK(p.labels[4] == kIgnoreIndex);
  CHECK(p.labels[5] == kIgnoreIndex);
  CHECK(p.input_ids[5] == 50256);
}
