// Rotary position tables for the LLaMA family: the inverse frequencies of
// Hugging Face's rope_type (transformers' modeling_rope_utils.py), with
// D = head_dim, theta = rope_theta, i < D/2:
//   default:  inv[i] = 1 / theta^(2i / D)
//   linear:   inv[i] / factor
//   dynamic:  (NTK) for T > max_position_embeddings P, theta is replaced by
//             theta (factor T / P - (factor - 1))^(D / (D - 2)); else default.
//             Transformers keeps the largest T seen in its module state; spt
//             computes the tables from each batch's own T.
//   llama3:   wavelength w = 2 pi / inv; w > L / low_freq_factor: inv / factor;
//             w < L / high_freq_factor: inv; between: (1 - s) inv / factor + s inv
//             with s = (L / w - low) / (high - low), L = original_max_position_embeddings.
// Then cos[p, i] = cos(p inv[i]), sin[p, i] = sin(p inv[i]) for p < T, computed
// in f32 as transformers does (the angle rounded to f32, then its cosine).
// The tables feed spt/ops/rope.h (one copy of the D/2 frequencies).
#pragma once

#include <vector>

#include "spt/core/tensor.h"
#include "spt/io/model_config.h"

namespace spt::model {

// What the rotary attention layers of one forward read: positions (B T) i32
// (token t of every row is at position t) and the tables (T, D/2).
struct RotaryTables {
  Tensor pos, cos, sin;
};

// The D/2 inverse frequencies for a batch of `seq_len` positions.
std::vector<float> rope_inv_freq(const io::LlamaConfig& c, int64_t seq_len);

// Tables for B rows of T tokens, in `dtype` on `device`.
RotaryTables rotary_tables(const io::LlamaConfig& c, int64_t B, int64_t T, DType dtype, Device device);

}  // namespace spt::model
