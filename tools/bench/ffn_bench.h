// spt-bench --ffn: the routed FFN (router + top-k + grouping + block FFN,
// forward and backward) against spt's dense FFN at the same shapes, every
// weight trainable, with the router and grouping overhead shown on their own
// (docs/PERF.md; scripts/bench_routed_ffn.py adds PyTorch to the same table).
#pragma once

#include <string>
#include <vector>

#include "spt/core/device.h"

namespace spt::bench {

struct FfnShapeSpec {
  int64_t d = 0, f = 0;
  bool swiglu = false;
};

struct FfnBenchOptions {
  std::vector<FfnShapeSpec> shapes;  // "d:F" or "d:F:swiglu"
  int64_t tokens = 4096, blocks = 8, active = 4;
  int iters = 3;
  std::string json;  // also write the rows as JSON lines here
};

// Parses "384:1536", "576:1536:swiglu"; throws spt::Error naming the bad item.
FfnShapeSpec parse_ffn_shape(const std::string& s);
void run_ffn_bench(Device dev, const FfnBenchOptions& o);

}  // namespace spt::bench
