// Losses. Each forward returns the loss on the host (as a double) and records
// its normaliser, so that gradient accumulation can divide by the number of
// targets of the whole batch rather than averaging micro-batch means.
#pragma once

#include "spt/core/tensor.h"

namespace spt::ops {

struct CrossEntropyOptions {
  int64_t ignore_index = -100;
  // Divide the summed loss by this; <= 0 means the number of non-ignored targets.
  double normalizer = 0;
};

struct CrossEntropySaved {
  Tensor lse;              // (N) logsumexp of each row
  double normalizer = 1;   // resolved normaliser
  int64_t ignore_index = -100;
};

// logits (N, V) float, targets (N) i32 in [0, V) or == ignore_index.
// Returns sum_i (lse_i - logits_i[t_i]) / normalizer over non-ignored rows.
double cross_entropy_forward(CrossEntropySaved& saved, const Tensor& logits,
                             const Tensor& targets, const CrossEntropyOptions& opt = {});
// dlogits (N, V) = dloss / normalizer * (softmax - onehot), zero rows where ignored (written).
void cross_entropy_backward(Tensor& dlogits, const Tensor& logits, const Tensor& targets,
                            const CrossEntropySaved& saved, float dloss = 1.f);

struct MseSaved {
  double normalizer = 1;
};

// pred, target: same numel. Returns sum (pred - target)^2 / normalizer
// (normalizer <= 0: numel), as torch.nn.MSELoss(reduction="mean").
double mse_forward(MseSaved& saved, const Tensor& pred, const Tensor& target,
                   double normalizer = 0);
// dpred = dloss * 2 (pred - target) / normalizer (written).
void mse_backward(Tensor& dpred, const Tensor& pred, const Tensor& target, const MseSaved& saved,
                  float dloss = 1.f);

// Number of targets != ignore_index (host tensors or any device).
int64_t count_targets(const Tensor& targets, int64_t ignore_index = -100);

}  // namespace spt::ops
