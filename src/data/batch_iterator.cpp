// Resumable iteration over epochs of batches (see spt/data/batching.h).
#include "spt/data/batching.h"

#include "spt/core/error.h"

namespace spt::data {

namespace {

// FNV-1a over 64-bit words.
struct Fnv {
  uint64_t h = 0xCBF29CE484222325ull;
  void add(uint64_t v) {
    for (int k = 0; k < 8; ++k) {
      h ^= (v >> (8 * k)) & 0xFF;
      h *= 0x100000001B3ull;
    }
  }
};

}  // namespace

nlohmann::json IteratorState::to_json() const {
  return {{"epoch", epoch}, {"position", position}, {"fingerprint", fingerprint}};
}

IteratorState IteratorState::from_json(const nlohmann::json& j) {
  IteratorState s;
  for (const char* key : {"epoch", "position", "fingerprint"})
    SPT_CHECK(j.is_object() && j.contains(key) &&
                  (j[key].is_number_unsigned() ||
                   (j[key].is_number_integer() && j[key].get<int64_t>() >= 0)),
              "[data] data iterator state: \"", key, "\" missing or not a non-negative integer"
              " (got ", j.dump(), "); hint: the checkpoint's trainer state is damaged");
  s.epoch = j["epoch"].get<uint64_t>();
  s.position = j["position"].get<uint64_t>();
  s.fingerprint = j["fingerprint"].get<uint64_t>();
  return s;
}

BatchIterator::BatchIterator(const TokenizedDataset& data, const BatchOptions& opt, int32_t pad_id)
    : data_(data), opt_(opt), pad_id_(pad_id) {
  SPT_CHECK(data.size() > 0, "[data] ", data.source(), ": no examples to batch");
  SPT_CHECK(opt.batch_size >= 1, "[data] batch_size must be at least 1; hint: set train.batch_size");
  batches_per_epoch_ = data::batches_per_epoch(data.size(), opt);
  SPT_CHECK(batches_per_epoch_ > 0, "[data] ", data.source(), ": ", data.size(),
            " examples make no full batch of ", opt.batch_size,
            " with drop_last; hint: lower the batch size");
  lengths_.resize(data.size());
  Fnv f;
  f.add(data.size());
  for (size_t i = 0; i < data.size(); ++i) f.add(lengths_[i] = data.length(i));
  for (const uint64_t v : {uint64_t(opt.batch_size), uint64_t(opt.shuffle), opt.seed,
                           uint64_t(opt.group_by_length), uint64_t(opt.mega_batch_mult),
                           uint64_t(opt.drop_last)})
    f.add(v);
  fingerprint_ = f.h;
}

const EpochPlan& BatchIterator::plan() {
  if (!planned_) {
    plan_ = plan_epoch(lengths_, opt_, epoch_);
    planned_ = true;
  }
  return plan_;
}

bool BatchIterator::next(Batch& out) {
  const EpochPlan& p = plan();
  if (position_ >= p.num_batches()) {
    start_epoch(epoch_ + 1);
    return false;
  }
  out = make_batch(data_, p.batch(position_), opt_, pad_id_);
  ++position_;
  return true;
}

void BatchIterator::start_epoch(uint64_t epoch) {
  if (epoch != epoch_) planned_ = false;
  epoch_ = epoch;
  position_ = 0;
}

void BatchIterator::restore(const IteratorState& s) {
  SPT_CHECK(s.fingerprint == fingerprint_,
            "[data] cannot resume: the saved data position belongs to other training data or "
            "batch settings (batch size, seed, shuffling, length grouping, drop_last); hint: "
            "resume with the data and settings of the original run");
  SPT_CHECK(s.position <= batches_per_epoch_, "[data] cannot resume at batch ", s.position,
            " of an epoch of ", batches_per_epoch_, " batches");
  start_epoch(s.epoch);
  position_ = s.position;
}

}  // namespace spt::data
