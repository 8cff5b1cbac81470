// Data parallelism of the trainer over the run's processes (spt/comm/comm.h).
//
// Every rank iterates the same global micro-batches (same sampler, same seed)
// and takes rows [r0, r1) of each, padded as the whole batch is. Its loss is
// normalised by the targets of the whole step (all micro-batches, all rows), so
// the sum over ranks of the gradients is the single-process gradient of the
// step; dropout masks are drawn at the rows' global places (StepContext::row0).
// After the all-reduce every rank holds the same gradients, clips by the same
// global norm and takes the same AdamW step: weights stay identical without
// being sent. Differences to one process come from summation order only.
#include <spdlog/spdlog.h>

#include <cmath>

#include "spt/core/error.h"
#include "spt/core/profile.h"
#include "spt/model/sparse_attention.h"
#include "src/train/trainer_impl.h"

namespace spt::train {

std::pair<size_t, size_t> Trainer::Impl::my_rows(size_t rows) const {
  const size_t n = static_cast<size_t>(comm->size()), r = static_cast<size_t>(comm->rank());
  return {(r * rows + n - 1) / n, ((r + 1) * rows + n - 1) / n};
}

void Trainer::Impl::all_reduce_grads() {
  if (grad_sync) grad_sync->finish();
}

void Trainer::Impl::broadcast_params() {
  if (comm->size() <= 1) return;
  for (const ParamInfo& p : ps.infos()) comm->broadcast(ps.param(p.name), 0);
}

void Trainer::Impl::broadcast_codebooks() {
  if (comm->size() <= 1 || !model_opts.attention.enabled) return;
  for (const ParamInfo& p : ps.infos())
    if (p.name.ends_with(".pq_codebooks")) comm->broadcast(ps.param(p.name), 0);
}

std::vector<double> Trainer::Impl::gather(const std::vector<double>& mine) const {
  if (comm->size() <= 1) return mine;
  return comm->all_gather(mine);
}

void Trainer::Impl::agree_on(data::Metrics& m) const {
  if (comm->size() <= 1) return;
  nlohmann::json j = nlohmann::json::array();
  for (const auto& [k, v] : m) j.push_back({k, v});
  std::string s = j.dump();
  comm->broadcast(s, 0);
  m.clear();
  for (const auto& kv : nlohmann::json::parse(s))  // NaN travels as null
    m.push_back({kv[0].get<std::string>(), kv[1].is_null() ? std::nan("") : kv[1].get<double>()});
}

void Trainer::Impl::setup_grad_sync() {
  if (comm->size() <= 1) return;
  const auto bucket = static_cast<int64_t>(std::max(1.0, cfg.number("runtime.bucket_mb") * 1048576.0 / 4.0));
  grad_sync = std::make_unique<GradSync>(ps, *comm, bucket);
}

void Trainer::Impl::setup_zero() {
  zero_offsets.clear();
  if (cfg.integer("runtime.zero") == 0 || comm->size() <= 1) return;
  const int64_t n = ps.num_trainable(), N = comm->size();
  for (int64_t r = 0; r <= N; ++r) zero_offsets.push_back(r * n / N);
  const size_t me = static_cast<size_t>(comm->rank());
  ps.shard_moments(zero_offsets[me], zero_offsets[me + 1]);
  spdlog::info("ZeRO-1: AdamW moments of {} of the {} trainable parameters on each process ({} MiB instead of {})",
               ps.moments_end() - ps.moments_begin(), n,
               (ps.moments_end() - ps.moments_begin()) * 8 / 1048576, n * 8 / 1048576);
}

void Trainer::Impl::gather_weights() {
  if (zero_offsets.empty()) return;
  SPT_PROFILE_SCOPE("all_gather_weights");
  comm->all_gather_segments(ps.flat_trainable(), zero_offsets);
}

std::pair<Tensor, Tensor> Trainer::Impl::full_moments() {
  if (zero_offsets.empty()) return {ps.adam_m(), ps.adam_v()};
  const int64_t n = ps.num_trainable(), b = ps.moments_begin(), e = ps.moments_end();
  Tensor m = Tensor::zeros({n}, DType::f32, ps.device()), v = Tensor::zeros({n}, DType::f32, ps.device());
  m.narrow0(b, e).copy_from(ps.adam_m());
  v.narrow0(b, e).copy_from(ps.adam_v());
  comm->all_gather_segments(m, zero_offsets);
  comm->all_gather_segments(v, zero_offsets);
  return {m, v};
}

void Trainer::Impl::load_moments(const Tensor& m, const Tensor& v) {
  const int64_t b = ps.moments_begin(), e = ps.moments_end();
  ps.adam_m().copy_from(m.narrow0(b, e));
  ps.adam_v().copy_from(v.narrow0(b, e));
}

}  // namespace spt::train
