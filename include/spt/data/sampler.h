// The order of examples in each epoch, identical on every platform: std::mt19937_64
// (fully specified by the standard) seeded from (seed, epoch) through SplitMix64,
// an unbiased bounded draw by rejection and a hand-written Fisher-Yates shuffle
// (std::shuffle and std::uniform_int_distribution are implementation-defined).
//
// With group_by_length (Hugging Face's LengthGroupedSampler): shuffle, cut into
// mega-batches of mega_batch_mult x batch_size, sort each by length (longest first),
// cut into batches, then shuffle the order of the batches, so batches hold examples
// of similar length (less padding) and still come in random order.
#pragma once

#include <cstddef>
#include <cstdint>
#include <random>
#include <span>
#include <vector>

namespace spt::data {

struct SamplerOptions {
  size_t batch_size = 32;
  bool shuffle = false;          // training: true; evaluation keeps file order
  uint64_t seed = 42;
  bool group_by_length = false;  // only with shuffle
  // Only without shuffle: examples longest first (stable), so each batch pads
  // little (evaluation, whose metrics do not depend on the order).
  bool sort_by_length = false;
  size_t mega_batch_mult = 50;
  bool drop_last = false;        // drop a last batch smaller than batch_size
};

// The RNG seed of `epoch`: SplitMix64 of the run seed mixed with the epoch.
uint64_t epoch_seed(uint64_t seed, uint64_t epoch);
// Uniform in [0, n), n >= 1, without modulo bias.
uint64_t uniform_below(std::mt19937_64& rng, uint64_t n);
// Fisher-Yates: for i = n-1 .. 1 swap v[i] with v[uniform_below(i + 1)].
void fisher_yates(std::span<size_t> v, std::mt19937_64& rng);

// One epoch's batches as dataset indices: batch b is order[starts[b] .. starts[b+1]).
struct EpochPlan {
  std::vector<size_t> order;
  std::vector<size_t> starts = {0};

  size_t num_batches() const { return starts.size() - 1; }
  std::span<const size_t> batch(size_t b) const {
    return std::span<const size_t>(order).subspan(starts[b], starts[b + 1] - starts[b]);
  }
};

// The plan of `epoch` for examples of the given lengths.
EpochPlan plan_epoch(std::span<const size_t> lengths, const SamplerOptions& opt, uint64_t epoch);

// Batches per epoch for `n` examples.
size_t batches_per_epoch(size_t n, const SamplerOptions& opt);

}  // namespace spt::data
