// RoPE inverse frequencies and cos/sin tables (see include/spt/model/rope_tables.h).
// Every step is rounded to f32 where transformers computes in f32, so the
// tables agree with its LlamaRotaryEmbedding to an ulp.
#include "spt/model/rope_tables.h"

#include <cmath>
#include <numbers>

#include "spt/core/error.h"

namespace spt::model {

namespace {

std::vector<float> base_inv_freq(float theta, int64_t dim) {
  std::vector<float> inv(static_cast<size_t>(dim / 2));
  for (int64_t i = 0; i < dim / 2; ++i) {
    const float e = static_cast<float>(2 * i) / static_cast<float>(dim);
    inv[i] = 1.f / std::pow(theta, e);
  }
  return inv;
}

}  // namespace

std::vector<float> rope_inv_freq(const io::LlamaConfig& c, int64_t seq_len) {
  const int64_t dim = c.head_dim;
  SPT_CHECK(dim >= 2 && dim % 2 == 0, "[llama] head_dim ", dim, " must be even for rotary embeddings");
  const float factor = static_cast<float>(c.rope_factor);
  float theta = static_cast<float>(c.rope_theta);
  if (c.rope_type == "dynamic" && seq_len > c.max_position_embeddings) {
    const float ratio = factor * static_cast<float>(seq_len) / static_cast<float>(c.max_position_embeddings) -
                        (factor - 1.f);
    theta = theta * std::pow(ratio, static_cast<float>(static_cast<double>(dim) / static_cast<double>(dim - 2)));
  }
  std::vector<float> inv = base_inv_freq(theta, dim);
  if (c.rope_type == "linear") {
    for (float& f : inv) f /= factor;
  } else if (c.rope_type == "llama3") {
    const float old_len = static_cast<float>(c.rope_original_max_position_embeddings);
    const float low = static_cast<float>(c.rope_low_freq_factor), high = static_cast<float>(c.rope_high_freq_factor);
    const float low_wavelen = old_len / low, high_wavelen = old_len / high;
    for (float& f : inv) {
      const float wavelen = static_cast<float>(2 * std::numbers::pi) / f;
      const float scaled = wavelen > low_wavelen ? f / factor : f;
      if (wavelen < high_wavelen || wavelen > low_wavelen) {
        f = scaled;
        continue;
      }
      const float s = (old_len / wavelen - low) / (high - low);
      f = (1.f - s) * scaled / factor + s * scaled;
    }
  } else {
    SPT_CHECK(c.rope_type == "default" || c.rope_type == "dynamic", "[llama] rope_type \"", c.rope_type,
              "\" is not supported");
  }
  return inv;
}

RotaryTables rotary_tables(const io::LlamaConfig& c, int64_t B, int64_t T, DType dtype, Device device) {
  const std::vector<float> inv = rope_inv_freq(c, T);
  const int64_t half = static_cast<int64_t>(inv.size());
  std::vector<double> cs(static_cast<size_t>(T * half)), sn(cs.size());
  for (int64_t p = 0; p < T; ++p)
    for (int64_t i = 0; i < half; ++i) {
      const float angle = static_cast<float>(p) * inv[i];
      cs[p * half + i] = static_cast<float>(std::cos(static_cast<double>(angle)));
      sn[p * half + i] = static_cast<float>(std::sin(static_cast<double>(angle)));
    }
  std::vector<int64_t> pos(static_cast<size_t>(B * T));
  for (int64_t n = 0; n < B * T; ++n) pos[n] = n % T;
  RotaryTables r;
  r.pos = Tensor::from_ints(pos, {B * T}, DType::i32, device);
  r.cos = Tensor::from_doubles(cs, {T, half}, dtype, device);
  r.sin = Tensor::from_doubles(sn, {T, half}, dtype, device);
  return r;
}

}  // namespace spt::model
