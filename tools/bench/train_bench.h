// spt-bench --train-model: fine-tuning steps of a whole model on random token
// ids (fixed seed, every token real, dropout on, AdamW with clipping), printed
// as one JSON line: tokens/s, step time, peak RSS and tensor memory, and the
// model FLOPs of a step (include/spt/train/step_cost.h) with the utilisation
// they give against --peak-tflops.
//
// The model: a Hugging Face folder or a .gguf file (real weights), or a named
// shape with random weights N(0, 0.02): bert-base (BERT-base-uncased's shapes,
// 2-label classification), smollm2-135m (SmolLM2-135M's shapes, causal LM).
// Modes: full fine-tuning; --lora R (every attention and FFN linear layer,
// alpha 2R, dropout 0.05); --spt (SPT mode: LoRA r 8 on the attention, sparse
// attention L = T/8 with random codebooks, routed FFN 4 of 8 blocks with random
// routers). --precision bf16 | fp16: the linear layers' GEMMs take bf16 / f16
// operands (runtime.precision; no loss scaling here: random data, few steps).
#pragma once

#include <cstdint>
#include <string>

#include "spt/core/device.h"

namespace spt::bench {

struct TrainBenchOptions {
  std::string model;        // folder, .gguf file, "bert-base" or "smollm2-135m"
  int64_t batch = 16, seq = 128;
  int steps = 30;
  int64_t lora_rank = 0;
  bool spt = false;
  std::string precision = "fp32";  // fp32, bf16, fp16: the linear layers' GEMMs (runtime.precision)
  double peak_tflops = 0;   // > 0: report model FLOPs utilisation against it
};

void run_train_bench(Device dev, const TrainBenchOptions& o);

}  // namespace spt::bench
