// Tokenized datasets and batches: ids as Tokenizer::encode(_pair) gives them, dynamic
// padding, tensors, deterministic shuffling per (seed, epoch), length grouping, and
// an iterator that resumes exactly where it stopped.
#include <catch2/catch.hpp>

#include <algorithm>
#include <numeric>
#include <set>

#include "spt/core/error.h"
#include "spt/data/batching.h"
#include "spt/data/glue.h"
#include "tests/data/data_test_util.h"

namespace {

using namespace spt::data;
using Catch::Contains;
using spt::test::bert_tokenizer;
using spt::test::data_fixture;
namespace tk = spt::tokenize;

// n single-text examples "the the ... ." of 1 + (i * 7) % 13 words, label i % 3.
TextDataset synthetic(size_t n) {
  TextDataset d;
  d.source = "synthetic";
  d.label_kind = LabelKind::classification;
  d.label_names = {"a", "b", "c"};
  for (size_t i = 0; i < n; ++i) {
    Example e;
    for (size_t w = 0; w < 1 + (i * 7) % 13; ++w) e.text += "the ";
    e.text += ".";
    e.label = static_cast<int32_t>(i % 3);
    e.line = i + 2;
    d.examples.push_back(e);
  }
  return d;
}

TokenizedDataset synthetic_tokens(size_t n) {
  return TokenizedDataset::from_examples(synthetic(n), bert_tokenizer(), TokenizeOptions{});
}

std::vector<std::vector<size_t>> all_batches(BatchIterator& it) {
  std::vector<std::vector<size_t>> out;
  Batch b;
  while (it.next(b)) out.push_back(b.indices);
  return out;
}

BatchOptions shuffled(size_t batch_size, uint64_t seed = 7) {
  BatchOptions o;
  o.batch_size = batch_size;
  o.shuffle = true;
  o.seed = seed;
  return o;
}

}  // namespace

TEST_CASE("Tokenized pairs equal Tokenizer::encode_pair, labels kept", "[data]") {
  const auto& tok = bert_tokenizer();
  const auto text = read_glue(GlueTask::rte, data_fixture("glue/RTE/train.tsv"));
  const auto data = TokenizedDataset::from_examples(text, tok, TokenizeOptions{});
  REQUIRE(data.size() == 2);
  CHECK(data.label_kind() == LabelKind::classification);
  CHECK(data.label_names() == text.label_names);
  for (size_t i = 0; i < 2; ++i) {
    const auto e = tok.encode_pair(text.examples[i].text, text.examples[i].text_pair);
    const auto ids = data.ids(i), types = data.type_ids(i);
    CHECK(std::vector<int32_t>(ids.begin(), ids.end()) == e.ids);
    CHECK(std::vector<int32_t>(types.begin(), types.end()) == e.type_ids);
    CHECK(data.label(i) == text.examples[i].label);
    CHECK(data.source_line(i) == text.examples[i].line);
  }
  CHECK(data.ids(0).front() == *tok.token_to_id("[CLS]"));
}

TEST_CASE("Truncation to max_length, only_first that cannot fit is a bad row", "[data]") {
  const auto& tok = bert_tokenizer();
  const auto text = read_glue(GlueTask::rte, data_fixture("glue/RTE/train.tsv"));
  TokenizeOptions o;
  o.max_length = 8;
  const auto data = TokenizedDataset::from_examples(text, tok, o);
  tk::EncodeOptions e;
  e.truncation = tk::Truncation::longest_first;
  e.max_length = 8;
  for (size_t i = 0; i < data.size(); ++i) {
    CHECK(data.length(i) == 8);
    const auto ids = data.ids(i);
    CHECK(std::vector<int32_t>(ids.begin(), ids.end()) ==
          tok.encode_pair(text.examples[i].text, text.examples[i].text_pair, e).ids);
  }
  // only_first with max_length 5: [CLS] A [SEP] B [SEP] leaves 2 tokens, and no
  // premise is longer than the cut needed, so the tokenizer cannot truncate.
  o.truncation = tk::Truncation::only_first;
  o.max_length = 5;
  CHECK_THROWS_WITH(TokenizedDataset::from_examples(text, tok, o),
                    Contains("train.tsv:2: cannot truncate with only_first to max_length 5") &&
                        Contains("hint:"));
  o.skip_bad_rows = true;
  const auto skipped = TokenizedDataset::from_examples(text, tok, o);
  CHECK(skipped.size() == 0);
  CHECK(skipped.bad_rows().count == 2);
}

TEST_CASE("Batches pad to the longest row with the tokenizer's pad id", "[data]") {
  const auto& tok = bert_tokenizer();
  const int32_t pad = pad_id_for(tok);
  CHECK(pad == *tok.token_to_id("[PAD]"));
  const auto text = read_glue(GlueTask::mrpc, data_fixture("glue/MRPC/train.tsv"));
  const auto data = TokenizedDataset::from_examples(text, tok, TokenizeOptions{});
  const size_t n0 = data.length(0), n1 = data.length(1);
  REQUIRE(n0 != n1);
  const std::vector<size_t> idx = {0, 1};
  BatchOptions o;
  const Batch b = make_batch(data, idx, o, pad);
  const size_t T = std::max(n0, n1);
  CHECK(b.rows == 2);
  CHECK(b.seq == T);
  CHECK(b.labels == std::vector<int32_t>{1, 0});
  for (size_t r = 0; r < 2; ++r) {
    const auto ids = data.ids(r), types = data.type_ids(r);
    for (size_t t = 0; t < T; ++t) {
      const bool real = t < ids.size();
      CHECK(b.input_ids[r * T + t] == (real ? ids[t] : pad));
      CHECK(b.token_type_ids[r * T + t] == (real ? types[t] : 0));
      CHECK(b.attention_mask[r * T + t] == (real ? 1 : 0));
    }
  }
  SECTION("to max_length, and on the left") {
    o.pad_to = PadTo::max_length;
    o.max_length = 40;
    o.padding_side = tk::Side::left;
    const Batch m = make_batch(data, idx, o, pad);
    CHECK(m.seq == 40);
    const auto ids = data.ids(0);
    CHECK(m.input_ids[40 - ids.size()] == ids[0]);
    CHECK(m.input_ids[0] == pad);
    CHECK(m.attention_mask[39] == 1);
    CHECK(m.attention_mask[40 - ids.size() - 1] == 0);
    o.max_length = 4;
    CHECK_THROWS_WITH(make_batch(data, idx, o, pad), Contains("more than max_length 4"));
  }
}

TEST_CASE("Batches become (B, T) i32 tensors, labels i32 or f32", "[data]") {
  const auto& tok = bert_tokenizer();
  const auto cls = TokenizedDataset::from_examples(
      read_glue(GlueTask::sst2, data_fixture("glue/SST-2/train.tsv")), tok, TokenizeOptions{});
  const std::vector<size_t> idx = {2, 0};
  const Batch b = make_batch(cls, idx, BatchOptions{}, pad_id_for(tok));
  const BatchTensors t = to_tensors(b);
  CHECK(t.input_ids.dtype() == spt::DType::i32);
  CHECK(t.input_ids.shape() == spt::Shape{2, static_cast<int64_t>(b.seq)});
  CHECK(t.attention_mask.shape() == t.input_ids.shape());
  CHECK(t.token_type_ids.dtype() == spt::DType::i32);
  CHECK(t.labels.dtype() == spt::DType::i32);
  CHECK(t.labels.to_ints() == std::vector<int64_t>{0, 1});
  const auto ids = t.input_ids.to_ints();
  CHECK(std::equal(ids.begin(), ids.end(), b.input_ids.begin()));

  const auto reg = TokenizedDataset::from_examples(
      read_glue(GlueTask::stsb, data_fixture("glue/STS-B/train.tsv")), tok, TokenizeOptions{});
  const std::vector<size_t> r = {0, 2};
  const BatchTensors rt = to_tensors(make_batch(reg, r, BatchOptions{}, pad_id_for(tok)));
  CHECK(rt.labels.dtype() == spt::DType::f32);
  CHECK(rt.labels.to_doubles() == std::vector<double>{4.8f, 3.5f});

  const auto test = TokenizedDataset::from_examples(
      read_glue(GlueTask::sst2, data_fixture("glue/SST-2/test.tsv")), tok, TokenizeOptions{});
  const std::vector<size_t> one = {0};
  CHECK_FALSE(to_tensors(make_batch(test, one, BatchOptions{}, 0)).labels.defined());
}

TEST_CASE("The RNG and shuffle are fixed algorithms", "[data]") {
  std::mt19937_64 rng;  // the standard fixes mt19937_64's 10000th output
  rng.discard(9999);
  CHECK(rng() == 9981545732273789042ull);
  std::mt19937_64 r2(1);
  for (uint64_t n : {1ull, 2ull, 3ull, 1000ull, (1ull << 63) + 1}) CHECK(uniform_below(r2, n) < n);
  std::vector<size_t> v(10);
  std::iota(v.begin(), v.end(), size_t{0});
  std::mt19937_64 r3(epoch_seed(42, 0));
  fisher_yates(v, r3);
  auto sorted = v;
  std::sort(sorted.begin(), sorted.end());
  CHECK(sorted == std::vector<size_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
  // The same permutation on every platform and compiler; computed independently by a
  // Python transcription of MT19937-64, SplitMix64, the rejection draw and Fisher-Yates.
  CHECK(v == std::vector<size_t>{2, 0, 4, 7, 8, 3, 5, 1, 9, 6});
}

TEST_CASE("Epoch order: deterministic per (seed, epoch), sequential unshuffled", "[data]") {
  std::vector<size_t> lengths(23, 5);
  const auto o = shuffled(4);
  const auto a = plan_epoch(lengths, o, 0), b = plan_epoch(lengths, o, 0);
  CHECK(a.order == b.order);
  CHECK(a.num_batches() == 6);  // 5 full + 1 of 3
  CHECK(a.batch(5).size() == 3);
  CHECK(plan_epoch(lengths, o, 1).order != a.order);
  CHECK(plan_epoch(lengths, shuffled(4, 8), 0).order != a.order);
  std::set<size_t> seen(a.order.begin(), a.order.end());
  CHECK(seen.size() == 23);

  auto drop = o;
  drop.drop_last = true;
  const auto d = plan_epoch(lengths, drop, 0);
  CHECK(d.num_batches() == 5);
  CHECK(d.order.size() == 20);
  CHECK(batches_per_epoch(23, drop) == 5);
  CHECK(batches_per_epoch(23, o) == 6);

  SamplerOptions seq;
  seq.batch_size = 10;
  const auto s = plan_epoch(lengths, seq, 3);
  CHECK(s.order[0] == 0);
  CHECK(s.order[22] == 22);
  CHECK(s.num_batches() == 3);
}

TEST_CASE("Length grouping sorts within mega-batches and shuffles the batches", "[data]") {
  std::vector<size_t> lengths(200);
  for (size_t i = 0; i < lengths.size(); ++i) lengths[i] = 1 + (i * 37) % 101;
  auto o = shuffled(8);
  o.group_by_length = true;
  o.mega_batch_mult = 5;  // mega-batches of 40
  const auto p = plan_epoch(lengths, o, 2);
  CHECK(p.order == plan_epoch(lengths, o, 2).order);
  CHECK(p.num_batches() == 25);
  std::set<size_t> seen(p.order.begin(), p.order.end());
  CHECK(seen.size() == 200);
  size_t grouped_pad = 0, random_pad = 0;
  bool first_is_longest = true;
  const auto r = plan_epoch(lengths, shuffled(8), 2);
  for (size_t b = 0; b < p.num_batches(); ++b) {
    const auto batch = p.batch(b);
    for (size_t k = 1; k < batch.size(); ++k) CHECK(lengths[batch[k - 1]] >= lengths[batch[k]]);
    const auto pad = [&](std::span<const size_t> bt) {
      size_t mx = 0, sum = 0;
      for (size_t i : bt) mx = std::max(mx, lengths[i]), sum += lengths[i];
      return mx * bt.size() - sum;
    };
    grouped_pad += pad(batch);
    random_pad += pad(r.batch(b));
    if (b > 0 && lengths[p.batch(b)[0]] > lengths[p.batch(0)[0]]) first_is_longest = false;
  }
  CHECK(grouped_pad * 4 < random_pad);
  CHECK_FALSE(first_is_longest);  // batch order is shuffled, not longest first
  // Unshuffled (evaluation) ignores grouping.
  o.shuffle = false;
  CHECK(plan_epoch(lengths, o, 0).order[1] == 1);
  // ... and sorts longest first (stable) when asked: every example once, ties in file order.
  o.sort_by_length = true;
  const auto s = plan_epoch(lengths, o, 0);
  REQUIRE(s.order.size() == 200);
  CHECK(std::set<size_t>(s.order.begin(), s.order.end()).size() == 200);
  for (size_t k = 1; k < s.order.size(); ++k) {
    CHECK(lengths[s.order[k - 1]] >= lengths[s.order[k]]);
    if (lengths[s.order[k - 1]] == lengths[s.order[k]]) CHECK(s.order[k - 1] < s.order[k]);
  }
}

TEST_CASE("BatchIterator walks epochs and resumes exactly", "[data]") {
  const auto data = synthetic_tokens(11);
  const int32_t pad = pad_id_for(bert_tokenizer());
  auto o = shuffled(3, 123);
  o.group_by_length = true;
  o.mega_batch_mult = 2;
  BatchIterator it(data, o, pad);
  CHECK(it.batches_per_epoch() == 4);
  const auto e0 = all_batches(it);
  CHECK(e0.size() == 4);
  CHECK(it.epoch() == 1);
  CHECK(it.position() == 0);
  const auto e1 = all_batches(it);
  CHECK(e1 != e0);

  // Stop after two batches of epoch 1, save, and resume in a fresh iterator.
  BatchIterator a(data, o, pad);
  a.start_epoch(1);
  Batch b;
  REQUIRE(a.next(b));
  REQUIRE(a.next(b));
  const auto saved = IteratorState::from_json(nlohmann::json::parse(a.state().to_json().dump()));
  CHECK(saved.epoch == 1);
  CHECK(saved.position == 2);
  BatchIterator resumed(data, o, pad);
  resumed.restore(saved);
  auto rest = all_batches(resumed);
  CHECK(rest == std::vector<std::vector<size_t>>(e1.begin() + 2, e1.end()));
  all_batches(a);  // finish epoch 1; then both give the same epoch 2
  CHECK(all_batches(resumed) == all_batches(a));

  // Whole batches, not just indices, are the same.
  BatchIterator c(data, o, pad), d(data, o, pad);
  d.restore(c.state());
  Batch bc, bd;
  REQUIRE(c.next(bc));
  REQUIRE(d.next(bd));
  CHECK(bc.input_ids == bd.input_ids);
  CHECK(bc.attention_mask == bd.attention_mask);
  CHECK(bc.labels == bd.labels);

  auto other = o;
  other.seed = 124;
  BatchIterator wrong(data, other, pad);
  CHECK_THROWS_WITH(wrong.restore(saved), Contains("cannot resume") && Contains("hint:"));
  CHECK_THROWS_WITH(IteratorState::from_json(nlohmann::json{{"epoch", 1}}),
                    Contains("\"position\" missing"));
}

TEST_CASE("drop_last is off by default, on, it drops the short batch", "[data]") {
  const auto data = synthetic_tokens(7);
  const int32_t pad = pad_id_for(bert_tokenizer());
  BatchOptions o;
  o.batch_size = 3;
  BatchIterator keep(data, o, pad);
  const auto kb = all_batches(keep);
  REQUIRE(kb.size() == 3);
  CHECK(kb[2] == std::vector<size_t>{6});
  o.drop_last = true;
  BatchIterator drop(data, o, pad);
  CHECK(all_batches(drop).size() == 2);
  o.batch_size = 8;
  CHECK_THROWS_WITH(BatchIterator(data, o, pad), Contains("no full batch of 8"));
}
