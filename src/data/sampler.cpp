// Deterministic epoch order: shuffling and length grouping (see spt/data/sampler.h).
#include "spt/data/sampler.h"

#include <algorithm>
#include <numeric>

#include "spt/core/error.h"

namespace spt::data {

namespace {

// SplitMix64 (Steele, Lea, Flood 2014), the usual seeder for 64-bit generators.
uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

}  // namespace

uint64_t epoch_seed(uint64_t seed, uint64_t epoch) { return splitmix64(splitmix64(seed) ^ epoch); }

uint64_t uniform_below(std::mt19937_64& rng, uint64_t n) {
  // Accept r in [2^64 mod n, 2^64): a whole number of copies of [0, n).
  const uint64_t threshold = (0 - n) % n;
  for (;;) {
    const uint64_t r = rng();
    if (r >= threshold) return r % n;
  }
}

void fisher_yates(std::span<size_t> v, std::mt19937_64& rng) {
  for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[uniform_below(rng, i)]);
}

size_t batches_per_epoch(size_t n, const SamplerOptions& opt) {
  return opt.drop_last ? n / opt.batch_size : (n + opt.batch_size - 1) / opt.batch_size;
}

EpochPlan plan_epoch(std::span<const size_t> lengths, const SamplerOptions& opt, uint64_t epoch) {
  SPT_CHECK(opt.batch_size >= 1, "[data] batch_size must be at least 1; hint: set train.batch_size");
  SPT_CHECK(opt.mega_batch_mult >= 1, "[data] mega_batch_mult must be at least 1");
  const size_t n = lengths.size(), bs = opt.batch_size;
  EpochPlan plan;
  plan.order.resize(n);
  std::iota(plan.order.begin(), plan.order.end(), size_t{0});
  std::mt19937_64 rng(epoch_seed(opt.seed, epoch));
  if (opt.shuffle) fisher_yates(plan.order, rng);
  const size_t full = n / bs * bs, keep = opt.drop_last ? full : n;

  if (!opt.shuffle && opt.sort_by_length)
    std::stable_sort(plan.order.begin(), plan.order.end(), [&](size_t a, size_t b) { return lengths[a] > lengths[b]; });
  if (!opt.shuffle || !opt.group_by_length) {
    plan.order.resize(keep);
    for (size_t s = bs; s < keep; s += bs) plan.starts.push_back(s);
    if (keep) plan.starts.push_back(keep);
    return plan;
  }
  // Length grouping: sort each mega-batch longest first (stable, so ties keep the
  // shuffled order), then shuffle whole batches.
  const size_t mega = opt.mega_batch_mult * bs;
  for (size_t s = 0; s < n; s += mega) {
    const auto first = plan.order.begin() + static_cast<std::ptrdiff_t>(s);
    const auto last = plan.order.begin() + static_cast<std::ptrdiff_t>(std::min(n, s + mega));
    std::stable_sort(first, last, [&](size_t a, size_t b) { return lengths[a] > lengths[b]; });
  }
  plan.order.resize(keep);  // mega is a multiple of bs: only the very last batch is short
  std::vector<size_t> batch_ids((keep + bs - 1) / bs);
  std::iota(batch_ids.begin(), batch_ids.end(), size_t{0});
  fisher_yates(batch_ids, rng);
  std::vector<size_t> order;
  order.reserve(keep);
  for (const size_t b : batch_ids) {
    const size_t begin = b * bs, end = std::min(keep, begin + bs);
    order.insert(order.end(), plan.order.begin() + static_cast<std::ptrdiff_t>(begin),
                 plan.order.begin() + static_cast<std::ptrdiff_t>(end));
    plan.starts.push_back(order.size());
  }
  plan.order = std::move(order);
  return plan;
}

}  // namespace spt::data
