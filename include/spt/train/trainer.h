// The fine-tuning run behind `spt-finetune --config`: builds the model,
// tokenizer and datasets from a resolved config, trains with AdamW, evaluates,
// keeps checkpoints (atomic; last K plus the best; trainer state included) and
// resumes bit-identically on the CPU.
#pragma once

#include <memory>
#include <string>

#include "spt/data/metrics.h"
#include "spt/train/config.h"

namespace spt::train {

struct RunSummary {
  int64_t steps = 0;
  double train_loss = 0;       // mean over the last logging interval
  std::string metric;          // the metric that picks the best model
  double best_metric = 0;
  int64_t best_step = -1;
  std::string best_checkpoint;  // "" when none was kept
  std::string final_model;      // "" when not saved
  std::string metrics_file;
  double seconds = 0;
  bool early_stopped = false;
  bool stopped = false;  // by SIGTERM / SIGUSR1 / SIGINT: checkpoint written, resume to continue
};

// SIGTERM and SIGUSR1 (Slurm before a time limit, scancel, preemption) and
// SIGINT (Ctrl-C; a second one quits at once) make a running train() finish its
// step, write a checkpoint and return `stopped`.
// train() installs the handlers for its duration; spt-finetune installs those
// of SIGTERM and SIGUSR1 at start so that one during set-up is not lost (Ctrl-C
// before training quits at once). Idempotent.
void install_stop_signals();

class Trainer {
 public:
  explicit Trainer(const ResolvedConfig& cfg);
  ~Trainer();
  // The --dry-run report: resolved settings, model, parameters, steps, memory estimate.
  std::string plan() const;
  // Trains; `resume` is "" (fresh), "latest" (newest checkpoint in output.dir),
  // "auto" (the newest if there is one, else fresh) or a checkpoint folder.
  RunSummary train(const std::string& resume = "");
  // Evaluates the current model on the eval set(s).
  data::Metrics evaluate();

  struct Impl;  // opaque (src/train/trainer_impl.h)

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace spt::train
