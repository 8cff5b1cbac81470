// spt-bench --selection: how much of dense attention's softmax mass the keys
// chosen by sparse attention carry, on a real model and real text (docs/PERF.md).
#pragma once

#include <string>

namespace spt::bench {

struct SelectionBenchOptions {
  std::string model;      // Hugging Face BERT / GPT-2 folder (e.g. all-MiniLM-L6-v2)
  std::string text;       // plain text file
  int64_t seq = 512;      // T
  int64_t calibration = 4, windows = 8;  // windows of T tokens: k-means, then measured
  double top_ratio = 0.125;
  int64_t rerank = 1, subvector_dim = 8, codewords = 16;
};

// Prints a table per layer (mass share, recall) and the mean; returns the mean mass share.
double run_selection_bench(const SelectionBenchOptions& o);

}  // namespace spt::bench
