// Batches from a TokenizedDataset: dynamic padding to the longest example of the
// batch (or to max_length), attention mask, labels, as host vectors or spt Tensors,
// and a resumable BatchIterator over epochs.
//
//   B = rows in the batch, T = padded length
//   input_ids, token_type_ids, attention_mask  (B, T) i32; padding: pad id, 0, 0
//   labels  classification (B) i32 | regression (B) f32 | causal LM (B, T) i32 with
//           -100 at padding | none
//
// The iterator's state (epoch, batches already produced) can be saved with a
// checkpoint; restoring it replays exactly the remaining batches, because each
// epoch's order is a pure function of (seed, epoch) (see sampler.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include <nlohmann/json.hpp>

#include "spt/core/tensor.h"
#include "spt/data/sampler.h"
#include "spt/data/tokenized.h"
#include "spt/tokenize/tokenizer.h"

namespace spt::data {

inline constexpr int32_t kIgnoreIndex = -100;  // causal-LM label at padding

enum class PadTo { longest, max_length };

struct BatchOptions : SamplerOptions {
  PadTo pad_to = PadTo::longest;
  size_t max_length = 0;  // PadTo::max_length: every batch is (B, max_length)
  tokenize::Side padding_side = tokenize::Side::right;
};

struct Batch {
  size_t rows = 0, seq = 0;                                 // B, T
  std::vector<int32_t> input_ids, token_type_ids, attention_mask;  // (B, T)
  LabelKind label_kind = LabelKind::none;
  std::vector<int32_t> labels;  // classification (B); causal LM (B, T)
  std::vector<float> targets;   // regression (B)
  std::vector<size_t> indices;  // dataset index of each row
};

struct BatchTensors {
  Tensor input_ids, token_type_ids, attention_mask;  // (B, T) i32
  Tensor labels;  // (B) i32, (B) f32 or (B, T) i32; undefined when unlabeled
};

// The pad id for batches: the tokenizer's pad token, else its EOS (GPT-2 has no pad
// token; padded positions are masked out anyway). Throws when it has neither.
int32_t pad_id_for(const tokenize::Tokenizer& tok);

// Pads the examples `indices` of `data` into one batch.
Batch make_batch(const TokenizedDataset& data, std::span<const size_t> indices,
                 const BatchOptions& opt, int32_t pad_id);

// Rows [r0, r1) of `b`, padded as `b` is (same T): data parallelism gives each
// rank such a slice of the global micro-batch.
Batch slice_rows(const Batch& b, size_t r0, size_t r1);

// The batch as tensors on `device`.
BatchTensors to_tensors(const Batch& batch, Device device = Device::cpu());

// Where an iterator stands: `position` batches of `epoch` have been produced.
struct IteratorState {
  uint64_t epoch = 0;
  uint64_t position = 0;
  uint64_t fingerprint = 0;  // of the example lengths and ordering options

  nlohmann::json to_json() const;
  static IteratorState from_json(const nlohmann::json& j);
};

class BatchIterator {
 public:
  // Keeps a reference to `data`, which must outlive the iterator.
  BatchIterator(const TokenizedDataset& data, const BatchOptions& opt, int32_t pad_id);

  size_t batches_per_epoch() const { return batches_per_epoch_; }
  uint64_t epoch() const { return epoch_; }
  uint64_t position() const { return position_; }

  // The next batch of the current epoch into `out`; false at the epoch's end, after
  // which the iterator stands at the start of the next epoch.
  bool next(Batch& out);
  // Jumps to the start of `epoch`.
  void start_epoch(uint64_t epoch);

  IteratorState state() const { return {epoch_, position_, fingerprint_}; }
  // Resumes at `s`; throws when it was saved for other data or ordering options.
  void restore(const IteratorState& s);

 private:
  const EpochPlan& plan();

  const TokenizedDataset& data_;
  BatchOptions opt_;
  int32_t pad_id_;
  std::vector<size_t> lengths_;
  size_t batches_per_epoch_ = 0;
  uint64_t fingerprint_ = 0;
  uint64_t epoch_ = 0, position_ = 0;
  EpochPlan plan_;
  bool planned_ = false;  // plan_ is the plan of epoch_
};

}  // namespace spt::data
