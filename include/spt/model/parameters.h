// ParameterStore: every parameter of a model in flat buffers with named views.
//
// Trainable parameters live in one contiguous buffer (decayed ones first, then
// those without weight decay: biases and LayerNorm weights), with gradients and
// AdamW's two moments laid out the same way; frozen parameters live in a second
// buffer with no gradient and no optimizer state (where LoRA's saving comes from).
// One AdamW call per group updates everything; gradient norm is one reduction.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "spt/core/tensor.h"

namespace spt {

struct ParamInfo {
  std::string name;
  Shape shape;
  bool trainable = true;
  bool weight_decay = true;  // false for biases and LayerNorm weights
};

class ParameterStore {
 public:
  ParameterStore() = default;
  ParameterStore(std::vector<ParamInfo> params, Device device);

  bool has(const std::string& name) const { return index_.count(name) > 0; }
  const ParamInfo& info(const std::string& name) const;
  const std::vector<ParamInfo>& infos() const { return infos_; }
  // View of a parameter's values (throws naming the parameter if unknown).
  Tensor& param(const std::string& name);
  const Tensor& param(const std::string& name) const;
  // View of its gradient; an undefined tensor for frozen parameters.
  Tensor& grad(const std::string& name);

  // Marks parameters matching any pattern (glob with * and ?) as frozen, or
  // all others when `invert`; values are kept, buffers re-laid out.
  // Returns the number of parameters (tensors) frozen.
  int freeze(const std::vector<std::string>& patterns, bool invert = false);

  int64_t num_params() const;     // elements, all
  int64_t num_trainable() const;  // elements, trainable
  Device device() const { return device_; }

  // Flat buffers (1-D f32): trainable values, gradients, AdamW moments, frozen values.
  Tensor& flat_trainable() { return trainable_; }
  Tensor& flat_grads() { return grads_; }
  Tensor& adam_m() { return m_; }
  Tensor& adam_v() { return v_; }
  Tensor& flat_frozen() { return frozen_; }
  // Elements [0, decay_end) of the trainable buffer take weight decay.
  int64_t decay_end() const { return decay_end_; }
  // ZeRO-1: keep AdamW's moments for trainable elements [begin, end) only (this
  // process's shard); adam_m() / adam_v() then hold end - begin elements, element
  // i being trainable element begin + i. Zeroes them. Undone by a new layout.
  void shard_moments(int64_t begin, int64_t end);
  int64_t moments_begin() const { return m_begin_; }
  int64_t moments_end() const { return m_begin_ + m_.numel(); }

  void zero_grads();

  // The dtype the linear layers' GEMMs compute in (runtime.precision): f32, or
  // bf16 / f16 with these f32 values as master weights (LinearRef rounds them
  // at every forward). Set before the model binds its layers.
  DType compute_dtype() const { return compute_dtype_; }
  void set_compute_dtype(DType dt) { compute_dtype_ = dt; }

 private:
  void layout(const std::map<std::string, Tensor>& keep_values);

  Device device_;
  std::vector<ParamInfo> infos_;
  std::map<std::string, size_t> index_;
  std::vector<Tensor> values_, grads_views_;
  Tensor trainable_, grads_, m_, v_, frozen_;
  int64_t decay_end_ = 0;
  int64_t m_begin_ = 0;
  DType compute_dtype_ = DType::f32;
};

// Glob match with '*' (any run) and '?' (any one character).
bool glob_match(const std::string& pattern, const std::string& text);

}  // namespace spt
