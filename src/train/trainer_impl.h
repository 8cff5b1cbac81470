// Trainer internals shared by trainer_setup.cpp (building the run from the
// config), trainer.cpp (the loop, evaluation) and trainer_checkpoint.cpp.
#pragma once

#include <fstream>
#include <map>
#include <optional>

#include "spt/backend/backend.h"
#include "spt/comm/comm.h"
#include "spt/data/batching.h"
#include "spt/data/glue.h"
#include "spt/data/tokenized.h"
#include "spt/io/gguf_import.h"
#include "spt/io/model_config.h"
#include "spt/io/param_spec.h"
#include "spt/model/model.h"
#include "spt/tokenize/tokenizer.h"
#include "spt/train/schedule.h"
#include "spt/train/tensorboard.h"
#include "spt/train/trainer.h"
#include "src/train/grad_sync.h"
#include "src/train/loss_scaler.h"

namespace spt::train {

enum class TaskKind { glue, classification, regression, causal_lm };

// A `layers` config list: entries "3", "4-6" or "all" (empty list: all);
// errors name `key` and the config file.
std::vector<int64_t> parse_layers(const std::vector<std::string>& items, const std::string& key,
                                  const std::string& source);

// Tokens per block of every routed layer, summed over the forwards it observes.
struct RouterLoad : model::FfnProbe {
  std::map<int64_t, std::vector<int64_t>> counts;
  void load(int64_t layer, const std::vector<int64_t>& offsets) override;
};

struct EvalSet {
  std::string name;  // "dev", or MNLI's "dev_matched" / "dev_mismatched"
  data::TokenizedDataset data;
};

// runtime.memory_limit_mb on a device's allocator for the life of a run (also
// when building the Trainer fails half-way).
struct MemoryLimit {
  Device device;
  MemoryLimit(Device d, size_t bytes) : device(d) { default_allocator(device).set_limit(bytes); }
  ~MemoryLimit() { default_allocator(device).set_limit(0); }
  MemoryLimit(const MemoryLimit&) = delete;
  MemoryLimit& operator=(const MemoryLimit&) = delete;
};

struct Trainer::Impl {
  ResolvedConfig cfg;
  Device device;
  std::optional<MemoryLimit> memory_limit;
  comm::Communicator* comm = nullptr;  // the run's processes (one when not launched by mpirun / srun)
  TaskKind kind = TaskKind::classification;
  std::optional<data::GlueTask> glue;
  int64_t num_labels = 2;
  std::vector<std::string> label_names;

  // Model.
  std::string model_source;  // folder the weights came from
  io::ModelConfig mcfg;
  io::ModelHead head = io::ModelHead::sequence_classification;
  ParameterStore ps;
  std::unique_ptr<model::Model> net;
  std::vector<std::string> newly_initialized;
  model::ModelOptions model_opts;  // LoRA, sparse attention (saved in checkpoints)
  std::string base_model;          // the Hugging Face model the run started from
  std::string tokenizer_dir;
  // model.path is a .gguf file: its config, tokenizer and HF-named tensors.
  std::optional<io::GgufModel> gguf;

  // Data.
  std::unique_ptr<tokenize::Tokenizer> tok;
  data::TokenizedDataset train_data;
  std::vector<EvalSet> eval_sets;
  data::BatchOptions batch_opt, eval_opt;
  int32_t pad_id = 0;
  std::unique_ptr<data::BatchIterator> train_it;

  // Schedule.
  int64_t accum = 1, micro_batch = 1, steps_per_epoch = 1, total_steps = 1;
  LrSchedule schedule;
  AdamWParams adam;
  double max_grad_norm = 1.0;
  model::Recompute recompute = model::Recompute::none;  // runtime.recompute
  DType compute_dtype = DType::f32;                      // runtime.precision (the linear layers' GEMMs)
  LossScaler scaler;                                     // runtime.loss_scale (state saved in checkpoints)

  // Best-model tracking.
  std::string metric;
  bool greater_is_better = true;

  // State (saved in checkpoints).
  int64_t step = 0;
  double best = 0;
  int64_t best_step = -1;
  int64_t bad_evals = 0;
  int64_t skipped_steps = 0;  // steps whose update the non-finite guard skipped
  bool overflow_step(double loss, double grad_norm);  // fp16: a skipped overflow (trainer_precision.cpp)
  void setup_precision();                              // runtime.precision, runtime.loss_scale

  // Output.
  std::string out_dir, metrics_path;
  std::ofstream metrics;
  // logging.tensorboard: every number of the JSONL records as a scalar (rank 0).
  std::unique_ptr<TensorBoardWriter> tensorboard;

  void setup_model();
  std::string gguf_tokenizer_dir() const;  // <output.dir>/gguf-tokenizer
  // LoRA options of the run into model_opts; a PEFT adapter's tensors into `extra`.
  void setup_lora(const model::LoraOptions& ckpt_lora, std::vector<std::pair<std::string, Tensor>>& extra);
  void init_new_heads(const std::vector<std::string>& names);
  // Copies tensors of a checkpoint / adapter that the base weights lack (adapters,
  // codebooks) into ps.
  void place_extra_tensors(const std::vector<std::pair<std::string, Tensor>>& extra);

  // Sparse attention (trainer_sparse.cpp).
  bool codebooks_ready = true;  // false: k-means on calibration batches before the first step
  std::map<int64_t, model::SelectionQuality> quality;  // of the last evaluation, per sparse layer
  void setup_attention();
  // Forward passes (no backward) over the first `batches` training batches in
  // file order with `ctx` (its probes collect what calibration needs); returns
  // the batches run.
  int64_t calibration_forward(int64_t batches, const model::StepContext& ctx);
  void calibrate_codebooks();
  bool codebook_update_due() const;  // this step's first micro-batch feeds a codebook update
  std::string describe_attention() const;
  std::unique_ptr<model::AttentionProbe> key_probe(model::KeySamples& keys) const;
  std::unique_ptr<model::AttentionProbe> quality_probe();
  // attn_mass_share / attn_recall (means over sparse layers) of the last evaluation.
  void add_quality_metrics(data::Metrics& m) const;
  // Routed FFN (trainer_routed.cpp).
  bool routers_ready = true;  // false: routers fitted (or drawn) before the first step
  std::map<int64_t, model::FfnShare> ffn_share_start, ffn_share;  // step 0; the last evaluation
  RouterLoad router_load;     // since the last log line
  model::AuxLosses aux;       // this step's auxiliary losses (balance)
  double aux_acc = 0;         // their sum since the last log line
  void setup_ffn();
  void calibrate_routers();
  std::string describe_ffn() const;
  // Evaluation: a probe collecting routed layers' inputs, then ffn_share from them.
  std::unique_ptr<model::FfnProbe> ffn_share_probe(model::KeySamples& samples) const;
  void finish_ffn_share(const model::KeySamples& samples);
  // ffn_share (mean over routed layers) of the last evaluation.
  void add_ffn_metrics(data::Metrics& m) const;
  // Router load since the last call ({"layer": {"imbalance": max/mean, "tokens": [...]}}), then reset.
  nlohmann::json take_router_load();
  void setup_data();
  void setup_schedule();
  std::string plan() const;

  // Loop pieces (trainer.cpp).
  model::EncoderBatch to_model_batch(const data::Batch& b, Tensor& labels) const;
  int64_t count_targets(const data::Batch& b) const;
  data::Metrics evaluate();
  // One step's forward and backward passes (gradients accumulated); returns its
  // loss. `keys` (or null) receives the first micro-batch's keys.
  double forward_backward(const std::vector<data::Batch>& micro, uint64_t seed, model::KeySamples* keys,
                          int64_t& tokens);
  // This rank's rows [r0, r1) of micro-batch `whole`: `whole` itself with one
  // process, else a copy of those rows in `slice`.
  const data::Batch& rows_of(const data::Batch& whole, size_t r0, size_t r1, data::Batch& slice) const;
  // The training context of micro-batch `micro` of this step, rows [r0, r1) of it.
  model::StepContext step_context(size_t micro, uint64_t seed, size_t r0, size_t r1) const;
  // Clipping (by `grad_norm`, the gradients' global norm), AdamW on both
  // weight-decay groups, zeroed gradients; returns the parameters used.
  AdamWParams optimizer_step(double grad_norm);

  // The non-finite guard (trainer_nonfinite.cpp): train.on_nonfinite, and the
  // fault injection of the tests (SPT_FAULT_NONFINITE=STEP:LAYER makes that
  // layer's output NaN in that step).
  bool skip_nonfinite = false;
  int64_t fault_step = -1, fault_layer = -1;
  void setup_nonfinite();
  // True when the step's loss and gradients are finite. Otherwise reports where
  // they stopped being finite and either throws (stop) or zeroes the gradients
  // and counts the step (skip), returning false.
  bool step_is_finite(double loss, double grad_norm, const std::vector<data::Batch>& micro, uint64_t seed);
  // Where the step's forward first made a non-finite tensor, and which gradients are.
  std::string nonfinite_report(const std::vector<data::Batch>& micro, uint64_t seed);
  void log_json(const nlohmann::json& record);

  // Data parallelism (trainer_parallel.cpp). Every rank builds the same global
  // micro-batches and trains on its rows of each; gradients are summed over the
  // ranks (each rank's loss is normalised by the whole step's targets), so N
  // processes take the single-process run's steps.
  bool root() const { return comm->is_root(); }
  // Rows [r0, r1) of a global micro-batch of `rows` that this rank trains on
  // (ceil(k rows / N) boundaries: the first ranks get the extra rows).
  std::pair<size_t, size_t> my_rows(size_t rows) const;
  // ZeRO-1 (runtime.zero = 1 with several processes): rank r keeps AdamW's
  // moments of trainable elements [zero_offsets[r], zero_offsets[r + 1]) only.
  std::vector<int64_t> zero_offsets;  // empty: moments whole
  void setup_zero();
  // After each rank's AdamW step on its shard: every rank's shard of the weights.
  void gather_weights();
  // The whole moments (checkpoints hold them whole, so any rank count resumes);
  // the stored ones when not sharded.
  std::pair<Tensor, Tensor> full_moments();
  // Loads whole moments (from a checkpoint) into this rank's shard.
  void load_moments(const Tensor& m, const Tensor& v);
  // Several processes: the gradient all-reduce in buckets, started during the
  // last micro-batch's backward (grad_sync.h); null with one process.
  std::unique_ptr<GradSync> grad_sync;
  void setup_grad_sync();
  // Ends the gradient sum over the ranks (the buckets not started yet, then waits).
  void all_reduce_grads();
  // Every parameter from rank 0 (after calibration; as DDP does at start).
  void broadcast_params();
  // The codebooks from rank 0 after an update (each rank sees only its keys).
  void broadcast_codebooks();
  // Evaluation: this rank evaluates batch k iff k % N == rank.
  bool my_eval_batch(int64_t k) const { return k % comm->size() == comm->rank(); }
  // Values of every rank, concatenated.
  std::vector<double> gather(const std::vector<double>& mine) const;
  // Rank 0's metrics on every rank (best-model and early-stopping decisions agree).
  void agree_on(data::Metrics& m) const;

  // Checkpoints (trainer_checkpoint.cpp).
  void save(const std::string& dir, bool with_trainer_state);
  void resume(const std::string& dir);
  // The newest intact checkpoint-<N> in output.dir ("" when there is none);
  // damaged newer ones are named in warnings and moved aside (<dir>.damaged).
  std::string latest_checkpoint() const;
  void rotate_checkpoints();
};

}  // namespace spt::train
