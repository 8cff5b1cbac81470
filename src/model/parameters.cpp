// ParameterStore layout: trainable-with-decay, trainable-without-decay, frozen.
#include "spt/model/parameters.h"

#include "spt/core/error.h"

namespace spt {

bool glob_match(const std::string& pattern, const std::string& text) {
  size_t p = 0, t = 0, star = std::string::npos, mark = 0;
  while (t < text.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == text[t])) {
      ++p;
      ++t;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = t;
    } else if (star != std::string::npos) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

ParameterStore::ParameterStore(std::vector<ParamInfo> params, Device device)
    : device_(device), infos_(std::move(params)) {
  for (size_t i = 0; i < infos_.size(); ++i) {
    SPT_CHECK(index_.emplace(infos_[i].name, i).second, "[parameters] duplicate parameter name '",
              infos_[i].name, "'");
  }
  layout({});
}

void ParameterStore::layout(const std::map<std::string, Tensor>& keep_values) {
  // Order: trainable+decay, trainable+no-decay, frozen.
  int64_t n_decay = 0, n_nodecay = 0, n_frozen = 0;
  for (const ParamInfo& p : infos_) {
    const int64_t n = shape_numel(p.shape);
    if (!p.trainable) n_frozen += n;
    else if (p.weight_decay) n_decay += n;
    else n_nodecay += n;
  }
  const int64_t n_train = n_decay + n_nodecay;
  trainable_ = Tensor::zeros({n_train}, DType::f32, device_);
  grads_ = Tensor::zeros({n_train}, DType::f32, device_);
  m_ = Tensor::zeros({n_train}, DType::f32, device_);
  v_ = Tensor::zeros({n_train}, DType::f32, device_);
  frozen_ = Tensor::zeros({n_frozen}, DType::f32, device_);
  decay_end_ = n_decay;
  m_begin_ = 0;

  int64_t off_decay = 0, off_nodecay = n_decay, off_frozen = 0;
  values_.assign(infos_.size(), Tensor());
  grads_views_.assign(infos_.size(), Tensor());
  for (size_t i = 0; i < infos_.size(); ++i) {
    const ParamInfo& p = infos_[i];
    const int64_t n = shape_numel(p.shape);
    if (!p.trainable) {
      values_[i] = frozen_.narrow0(off_frozen, off_frozen + n).reshape(p.shape);
      off_frozen += n;
    } else {
      int64_t& off = p.weight_decay ? off_decay : off_nodecay;
      values_[i] = trainable_.narrow0(off, off + n).reshape(p.shape);
      grads_views_[i] = grads_.narrow0(off, off + n).reshape(p.shape);
      off += n;
    }
    if (auto it = keep_values.find(p.name); it != keep_values.end()) values_[i].copy_from(it->second);
  }
}

const ParamInfo& ParameterStore::info(const std::string& name) const {
  auto it = index_.find(name);
  SPT_CHECK(it != index_.end(), "[parameters] no parameter named '", name, "'");
  return infos_[it->second];
}

Tensor& ParameterStore::param(const std::string& name) {
  auto it = index_.find(name);
  SPT_CHECK(it != index_.end(), "[parameters] no parameter named '", name, "'");
  return values_[it->second];
}

const Tensor& ParameterStore::param(const std::string& name) const {
  auto it = index_.find(name);
  SPT_CHECK(it != index_.end(), "[parameters] no parameter named '", name, "'");
  return values_[it->second];
}

Tensor& ParameterStore::grad(const std::string& name) {
  auto it = index_.find(name);
  SPT_CHECK(it != index_.end(), "[parameters] no parameter named '", name, "'");
  return grads_views_[it->second];
}

int ParameterStore::freeze(const std::vector<std::string>& patterns, bool invert) {
  std::map<std::string, Tensor> keep;
  for (size_t i = 0; i < infos_.size(); ++i) keep[infos_[i].name] = values_[i].clone();
  int frozen = 0;
  for (ParamInfo& p : infos_) {
    bool match = false;
    for (const std::string& pat : patterns) match = match || glob_match(pat, p.name);
    if (match != invert) {
      frozen += p.trainable ? 1 : 0;
      p.trainable = false;
    }
  }
  layout(keep);
  return frozen;
}

int64_t ParameterStore::num_params() const { return trainable_.numel() + frozen_.numel(); }
int64_t ParameterStore::num_trainable() const { return trainable_.numel(); }

void ParameterStore::zero_grads() { grads_.zero_(); }

void ParameterStore::shard_moments(int64_t begin, int64_t end) {
  SPT_CHECK(0 <= begin && begin <= end && end <= num_trainable(), "[params] moment shard [", begin, ", ", end,
            ") outside the ", num_trainable(), " trainable elements");
  m_ = Tensor::zeros({end - begin}, DType::f32, device_);
  v_ = Tensor::zeros({end - begin}, DType::f32, device_);
  m_begin_ = begin;
}

}  // namespace spt
