// spt-bench --attention: sparse attention (selection + forward + backward)
// against spt's dense attention at long sequence lengths, with the bytes each
// keeps for backward (docs/PERF.md; scripts/bench_sparse_attention.py adds
// PyTorch's scaled_dot_product_attention to the same table).
#pragma once

#include <string>
#include <vector>

#include "spt/core/device.h"

namespace spt::bench {

struct AttentionBenchOptions {
  std::vector<int64_t> seqs = {512, 1024, 2048, 4096};
  int64_t batch = 4, heads = 12, head_dim = 64;
  double top_ratio = 0.125;   // L = T / 8
  int64_t rerank = 1;
  bool causal = false;
  float dropout = 0.1f;
  int iters = 3;
  std::string json;           // also write the rows as JSON lines here
  bool sparse_only = false;   // skip dense attention (profiling)
  std::string kernel = "fused";  // CUDA: fused kernels or the cuSPARSE path
  bool deterministic = false;    // CUDA: the backward without atomics
};

void run_attention_bench(Device dev, const AttentionBenchOptions& o);

}  // namespace spt::bench
