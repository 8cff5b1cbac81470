// Bucketed gradient all-reduce that starts during backward (see grad_sync.h).
#include "src/train/grad_sync.h"

#include <algorithm>
#include <cstdlib>
#include <string>

#include "spt/core/profile.h"

namespace spt::train {

namespace {

// The block of a parameter named "layers.<n>.…", else -1.
int64_t block_of(const std::string& name) {
  if (name.rfind("layers.", 0) != 0) return -1;
  const size_t dot = name.find('.', 7);
  if (dot == std::string::npos) return -1;
  const std::string digits = name.substr(7, dot - 7);
  if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos) return -1;
  return std::stoll(digits);
}

}  // namespace

GradSync::GradSync(ParameterStore& ps, comm::Communicator& c, int64_t bucket) : ps_(ps), comm_(c) {
  const int64_t n = ps.num_trainable();
  if (n == 0) return;
  // Each trainable element's block, from where its parameter's gradient view starts.
  std::vector<std::pair<int64_t, int64_t>> spans;  // (offset, block) per trainable parameter, by offset
  const char* base = static_cast<const char*>(ps.flat_grads().data_ptr());
  for (const ParamInfo& p : ps.infos()) {
    if (!p.trainable) continue;
    const int64_t off = (static_cast<const char*>(ps.grad(p.name).data_ptr()) - base) / 4;
    spans.push_back({off, block_of(p.name)});
  }
  std::sort(spans.begin(), spans.end());
  size_t s = 0;
  for (int64_t b = 0; b < n; b += bucket) {
    const int64_t e = std::min(n, b + bucket);
    while (s + 1 < spans.size() && spans[s + 1].first <= b) ++s;  // the parameter holding element b
    int64_t ready = INT64_MAX;
    for (size_t i = s; i < spans.size() && spans[i].first < e; ++i) {
      const int64_t blk = spans[i].second;
      ready = std::min(ready, blk);  // a parameter outside blocks (-1) makes the bucket wait for the end
    }
    order_.push_back({b, e, ready == INT64_MAX ? -1 : ready});
  }
  // Complete earliest first: blocks finish in decreasing order, the rest at the end.
  std::stable_sort(order_.begin(), order_.end(),
                   [](const Bucket& x, const Bucket& y) { return x.ready_after > y.ready_after; });
}

void GradSync::arm() {
  armed_ = true;
  next_ = early_ = 0;
}

void GradSync::start_through(int64_t done_block) {
  while (next_ < order_.size() && order_[next_].ready_after >= done_block && order_[next_].ready_after >= 0) {
    Tensor b = ps_.flat_grads().narrow0(order_[next_].begin, order_[next_].end);
    comm_.all_reduce_start(b);
    ++next_;
    ++early_;
  }
}

void GradSync::block_done(int64_t block) {
  if (!armed_) return;
  SPT_PROFILE_SCOPE("all_reduce_grads");
  start_through(block);
}

void GradSync::finish() {
  SPT_PROFILE_SCOPE("all_reduce_grads");
  if (!armed_) next_ = 0;
  for (; next_ < order_.size(); ++next_) {
    Tensor b = ps_.flat_grads().narrow0(order_[next_].begin, order_[next_].end);
    comm_.all_reduce_start(b);
  }
  comm_.wait_pending();
  armed_ = false;
  next_ = 0;
}

}  // namespace spt::train
