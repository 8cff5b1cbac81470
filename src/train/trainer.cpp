// The training loop: micro-batches accumulated into optimizer steps (the loss of
// a step is normalised by the targets of the whole step, so N micro-batches equal
// one batch N times larger), gradient clipping, AdamW with decay only on weights,
// evaluation, best-model tracking, early stopping, checkpoints, progress and a
// JSONL metrics log.
#include <spdlog/spdlog.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>

#include <chrono>
#include <cmath>
#include <filesystem>

#include "spt/core/error.h"
#include "spt/core/profile.h"
#include "spt/ops/optim.h"
#include "src/train/trainer_impl.h"

namespace spt::train {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

double peak_rss_mib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
}

// SIGTERM / SIGUSR1 (what Slurm sends before a time limit or preemption) and
// SIGINT (Ctrl-C): the run finishes its step, writes a checkpoint and returns
// with `stopped` (exit code 75). A second SIGINT ends the process at once, as
// the default action would.
std::atomic<int> g_stop_signal{0};

void on_stop_signal(int sig) {
  const int saved_errno = errno;  // write() below may change it under the interrupted code
  const int before = g_stop_signal.exchange(sig);
  if (sig == SIGINT) {
    if (before == SIGINT) {
      ::signal(SIGINT, SIG_DFL);
      ::raise(SIGINT);
      return;
    }
    static const char kMsg[] =
        "\ninterrupted: finishing this step and writing a checkpoint (Ctrl-C again to quit without one)\n";
    [[maybe_unused]] const ssize_t n = ::write(2, kMsg, sizeof(kMsg) - 1);
  }
  errno = saved_errno;
}

constexpr int kStopSignals[] = {SIGTERM, SIGUSR1, SIGINT};

// Installs the handlers for one train() call and puts the previous ones back
// (a signal that came before, with install_stop_signals(), still counts).
struct StopSignals {
  struct sigaction old[3]{};
  StopSignals() {
    struct sigaction sa{};
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    for (int i = 0; i < 3; ++i) sigaction(kStopSignals[i], &sa, &old[i]);
  }
  ~StopSignals() {
    for (int i = 0; i < 3; ++i) sigaction(kStopSignals[i], &old[i], nullptr);
  }
};

}  // namespace

void install_stop_signals() {
  // Not SIGINT: Ctrl-C during set-up, evaluation-only or dry runs quits at once
  // (nothing to save); train() takes it over for its duration.
  struct sigaction sa{};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGUSR1, &sa, nullptr);
}

namespace {

std::string format_eta(double seconds) {
  const auto s = static_cast<int64_t>(seconds);
  if (s >= 3600) return str_cat(s / 3600, "h", (s % 3600) / 60, "m");
  return str_cat(s / 60, "m", s % 60, "s");
}

}  // namespace

model::EncoderBatch Trainer::Impl::to_model_batch(const data::Batch& b, Tensor& labels) const {
  data::BatchTensors t = data::to_tensors(b, device);
  labels = t.labels;
  return {t.input_ids, t.token_type_ids, t.attention_mask};
}

// Targets the loss of this micro-batch sums over (before normalisation).
int64_t Trainer::Impl::count_targets(const data::Batch& b) const {
  if (b.label_kind != data::LabelKind::causal_lm) return static_cast<int64_t>(b.rows);
  int64_t n = 0;  // tokens t >= 1 with a label: the model predicts token t from tokens < t
  for (size_t r = 0; r < b.rows; ++r)
    for (size_t t = 1; t < b.seq; ++t) n += b.labels[r * b.seq + t] != data::kIgnoreIndex;
  return n;
}

namespace {

// Every number of a metrics record as a TensorBoard scalar at its step, tagged
// "<type>/<key>" with nested objects joined by "/" ("train/loss",
// "eval/attention_layers/3/mass_share", "train/router_load/2/imbalance");
// null (a NaN, e.g. the loss of an interval of skipped steps) as NaN; strings and
// lists are left to the JSONL.
void add_scalars(const nlohmann::json& j, const std::string& prefix, std::vector<std::pair<std::string, double>>& out) {
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.key() == "type" || it.key() == "step") continue;
    const std::string tag = prefix + "/" + it.key();
    if (it->is_object()) add_scalars(*it, tag, out);
    else if (it->is_number()) out.emplace_back(tag, it->get<double>());
    else if (it->is_boolean()) out.emplace_back(tag, it->get<bool>() ? 1.0 : 0.0);
    else if (it->is_null()) out.emplace_back(tag, std::nan(""));  // JSON writes NaN as null
  }
}

void log_tensorboard(TensorBoardWriter& tb, const nlohmann::json& record) {
  const std::string type = record.value("type", std::string("log"));
  const int64_t step = record.contains("step") && record["step"].is_number_integer() ? record["step"].get<int64_t>()
                       : record.contains("steps") && record["steps"].is_number_integer() ? record["steps"].get<int64_t>()
                                                                                           : 0;
  std::vector<std::pair<std::string, double>> values;
  add_scalars(record, type, values);
  if (values.empty()) return;
  tb.scalars(values, step);
  tb.flush();
}

}  // namespace

void Trainer::Impl::log_json(const nlohmann::json& record) {
  if (!root()) return;  // one log per run
  if (!metrics.is_open()) {
    fs::create_directories(fs::path(metrics_path).parent_path());
    metrics.open(metrics_path, std::ios::app);
    SPT_CHECK(metrics.good(), "[trainer] cannot write the metrics file ", metrics_path,
              "; hint: check logging.metrics_file / output.dir");
    if (cfg.boolean("logging.tensorboard"))  // opened with the JSONL: a dry run writes neither
      tensorboard = std::make_unique<TensorBoardWriter>((fs::path(out_dir) / "tensorboard").string());
  }
  metrics << record.dump() << "\n";
  metrics.flush();
  if (tensorboard) log_tensorboard(*tensorboard, record);
}

data::Metrics Trainer::Impl::evaluate() {
  data::Metrics all;
  std::vector<std::vector<int32_t>> preds_cls, gold_cls;
  quality.clear();
  const std::unique_ptr<model::AttentionProbe> probe = model_opts.attention.enabled ? quality_probe() : nullptr;
  model::KeySamples ffn_inputs(1024);  // per routed layer, for ffn_share
  const std::unique_ptr<model::FfnProbe> ffn_probe = model_opts.ffn.enabled ? ffn_share_probe(ffn_inputs) : nullptr;
  for (EvalSet& set : eval_sets) {
    data::BatchIterator it(set.data, eval_opt, pad_id);
    data::Batch b;
    std::vector<int32_t> pred, gold;
    std::vector<double> pred_r, gold_r;
    double loss_sum = 0;
    int64_t n_targets = 0;
    model::StepContext ctx{};  // dropout off
    ctx.keep_saved = false;    // no backward: one layer's activations at a time
    ctx.probe = probe.get();
    ctx.ffn_probe = ffn_probe.get();
    for (int64_t k = 0; it.next(b); ++k) {
      if (!my_eval_batch(k)) continue;  // several processes: batch k is rank k % N's
      Tensor labels;
      const model::EncoderBatch mb = to_model_batch(b, labels);
      const Tensor& logits = net->forward(mb, ctx);
      n_targets += count_targets(b);
      loss_sum += net->loss(labels, 1.0);  // summed: normalised below
      if (head == io::ModelHead::causal_lm) continue;
      const std::vector<double> lg = logits.to_doubles();
      const int64_t L = logits.dim(-1);
      for (size_t r = 0; r < b.rows; ++r) {
        if (num_labels == 1) {
          pred_r.push_back(lg[r]);
          gold_r.push_back(b.targets[r]);
        } else {
          int64_t best_j = 0;
          for (int64_t j = 1; j < L; ++j)
            if (lg[r * L + j] > lg[r * L + best_j]) best_j = j;
          pred.push_back(static_cast<int32_t>(best_j));
          gold.push_back(b.labels[r]);
        }
      }
    }
    if (comm->size() > 1) {  // the shards' sums, predictions and gold labels (aligned: same order)
      double sums[2] = {loss_sum, static_cast<double>(n_targets)};
      comm->all_reduce(std::span<double>(sums, 2), comm::ReduceOp::sum);
      loss_sum = sums[0];
      n_targets = static_cast<int64_t>(sums[1]);
      pred_r = gather(pred_r);
      gold_r = gather(gold_r);
      auto gather_ints = [&](std::vector<int32_t>& v) {
        const std::vector<double> got = gather(std::vector<double>(v.begin(), v.end()));
        v.assign(got.begin(), got.end());
      };
      gather_ints(pred);
      gather_ints(gold);
    }
    const double loss = n_targets > 0 ? loss_sum / static_cast<double>(n_targets) : 0.0;
    data::Metrics m;
    if (head == io::ModelHead::causal_lm) {
      m = {{"loss", loss}, {"perplexity", std::exp(loss)}};
    } else if (glue && *glue == data::GlueTask::mnli) {
      preds_cls.push_back(pred);
      gold_cls.push_back(gold);
      m = {{"loss", loss}};
    } else if (glue) {
      m = num_labels == 1 ? data::glue_metrics(*glue, std::span<const double>(pred_r), gold_r)
                          : data::glue_metrics(*glue, std::span<const int32_t>(pred), gold);
      m.insert(m.begin(), {"loss", loss});
    } else {
      m = num_labels == 1 ? data::regression_metrics(pred_r, gold_r)
                          : data::classification_metrics(pred, gold, static_cast<size_t>(num_labels));
      m.insert(m.begin(), {"loss", loss});
    }
    const std::string prefix = eval_sets.size() > 1 ? set.name + "_" : "";
    for (const auto& [k, v] : m) all.push_back({prefix + k, v});
  }
  add_quality_metrics(all);
  if (ffn_probe) {
    finish_ffn_share(ffn_inputs);
    add_ffn_metrics(all);
  }
  if (glue && *glue == data::GlueTask::mnli && preds_cls.size() == 2) {
    for (const auto& kv : data::mnli_metrics(preds_cls[0], gold_cls[0], preds_cls[1], gold_cls[1]))
      all.push_back(kv);
  }
  agree_on(all);  // the selection-quality metrics above come from each rank's share: rank 0's are kept
  return all;
}

data::Metrics Trainer::evaluate() {
  impl_->calibrate_codebooks();  // a model without them (--eval-only on a Hugging Face folder)
  impl_->calibrate_routers();
  impl_->broadcast_params();
  return impl_->evaluate();
}

const data::Batch& Trainer::Impl::rows_of(const data::Batch& whole, size_t r0, size_t r1,
                                          data::Batch& slice) const {
  if (comm->size() == 1) return whole;
  slice = data::slice_rows(whole, r0, r1);
  return slice;
}

model::StepContext Trainer::Impl::step_context(size_t micro, uint64_t seed, size_t r0, size_t r1) const {
  model::StepContext ctx{true, seed, static_cast<uint64_t>(step), static_cast<uint64_t>(micro)};
  ctx.row0 = static_cast<int64_t>(r0);
  ctx.rows = static_cast<int64_t>(r1 - r0);
  ctx.recompute = recompute;
  if (step + 1 == fault_step) ctx.poison_layer = fault_layer;
  return ctx;
}

double Trainer::Impl::forward_backward(const std::vector<data::Batch>& micro, uint64_t seed,
                                       model::KeySamples* keys, int64_t& tokens) {
  int64_t step_targets = 0;
  for (const data::Batch& b : micro) step_targets += count_targets(b);
  const double norm = static_cast<double>(std::max<int64_t>(step_targets, 1));
  const double S = scaler.scale();  // loss scaling (fp16): backward runs on S * loss
  double step_loss = 0;
  std::unique_ptr<model::AttentionProbe> probe = keys ? key_probe(*keys) : nullptr;
  const bool split = comm->size() > 1;
  for (size_t i = 0; i < micro.size(); ++i) {
    // Several processes: this rank's rows of the global micro-batch (trainer_parallel.cpp).
    const auto [r0, r1] = split ? my_rows(micro[i].rows) : std::pair<size_t, size_t>{0, micro[i].rows};
    const bool last = i + 1 == micro.size();
    if (last && grad_sync) grad_sync->arm();  // its backward starts the gradient all-reduce block by block
    if (r0 == r1) continue;  // fewer rows than ranks: nothing here, the all-reduce still follows
    data::Batch slice;
    const data::Batch& b = rows_of(micro[i], r0, r1, slice);
    Tensor labels;
    const model::EncoderBatch mb = to_model_batch(b, labels);
    model::StepContext ctx = step_context(i, seed, r0, r1);
    if (last) ctx.grads_ready = grad_sync.get();
    if (i == 0) ctx.probe = probe.get();  // the first micro-batch's keys update the codebooks
    if (model_opts.ffn.enabled) ctx.ffn_probe = &router_load;
    ctx.aux = &aux;
    ctx.aux_scale = S / static_cast<double>(micro.size() * static_cast<size_t>(comm->size()));  // summed over ranks
    net->forward(mb, ctx);
    step_loss += net->loss(labels, norm / S) / S;
    net->backward();
    for (int32_t x : b.attention_mask) tokens += x;
  }
  if (!aux.terms.empty()) {
    aux_acc += aux.total() / S;
    aux.terms.clear();
  }
  return step_loss;
}

AdamWParams Trainer::Impl::optimizer_step(double grad_norm) {
  std::vector<Tensor> grads = {ps.flat_grads()};
  if (max_grad_norm > 0) ops::clip_grad_norm(grads, max_grad_norm, grad_norm);
  AdamWParams p = adam;
  p.lr = static_cast<float>(schedule.lr(step));
  p.step = step + 1;
  // Elements [a, b) of one weight-decay group, within the moments this process
  // keeps ([mb, me): all of them, or its ZeRO-1 shard).
  const int64_t n = ps.num_trainable(), d = ps.decay_end(), mb = ps.moments_begin(), me = ps.moments_end();
  auto update = [&](int64_t a, int64_t b, const AdamWParams& q) {
    a = std::max(a, mb);
    b = std::min(b, me);
    if (a >= b) return;
    Tensor pw = ps.flat_trainable().narrow0(a, b), mw = ps.adam_m().narrow0(a - mb, b - mb),
           vw = ps.adam_v().narrow0(a - mb, b - mb);
    ops::adamw_step(pw, mw, vw, ps.flat_grads().narrow0(a, b), q);
  };
  update(0, d, p);
  AdamWParams pn = p;
  pn.weight_decay = 0.f;
  update(d, n, pn);
  gather_weights();  // ZeRO-1: the other shards' new weights
  ps.zero_grads();
  return p;
}

namespace {

// What the progress lines report: sums since the last line.
struct Progress {
  Clock::time_point start, last;
  int64_t start_step = 0;
  double loss = 0;        // summed over the finite steps since the last line
  int64_t loss_steps = 0;
  int64_t tokens = 0;
  int64_t skipped = 0;    // steps skipped (non-finite guard, fp16 overflow) since the last line
  double grad_norm = 0;   // of the last step
};

}  // namespace

// Gathers one step's micro-batches; a step never spans two epochs (the last
// step of an epoch may have fewer micro-batches, as in transformers).
static std::vector<data::Batch> next_micro_batches(Trainer::Impl& m, bool& epoch_end) {
  std::vector<data::Batch> micro;
  for (int64_t i = 0; i < m.accum; ++i) {
    data::Batch b;
    if (!m.train_it->next(b)) {
      if (!micro.empty()) break;
      SPT_CHECK(m.train_it->next(b), "[trainer] the training set yields no batch");
    }
    micro.push_back(std::move(b));
    if (m.train_it->position() >= m.train_it->batches_per_epoch()) break;
  }
  epoch_end = m.train_it->position() >= m.train_it->batches_per_epoch();
  return micro;
}

// An evaluation during training: logged, and the best model tracked (and saved).
static void eval_and_track(Trainer::Impl& m, const char* why) {
  const auto t0 = Clock::now();
  const data::Metrics em = m.evaluate();
  nlohmann::json rec = {{"type", "eval"}, {"step", m.step}, {"reason", why}};
  std::string line;
  for (const auto& [k, v] : em) {
    rec[k] = v;
    line += str_cat(" ", k, " ", v);
  }
  rec["seconds"] = std::chrono::duration<double>(Clock::now() - t0).count();
  for (const auto& [layer, q] : m.quality)  // per sparse layer
    rec["attention_layers"][std::to_string(layer)] = {{"mass_share", q.mean_mass()}, {"recall", q.mean_recall()},
                                                      {"rows", q.rows}};
  for (const auto& [layer, s] : m.ffn_share)  // per routed layer
    rec["ffn_layers"][std::to_string(layer)] = {{"share", s.routed}, {"best", s.oracle}, {"tokens", s.tokens}};
  m.log_json(rec);
  spdlog::info("eval @ step {}:{}", m.step, line);
  const double v = data::metric_value(em, m.metric);
  const bool better = m.greater_is_better ? v > m.best : v < m.best;
  if (better) {
    m.best = v;
    m.best_step = m.step;
    m.bad_evals = 0;
    if (m.cfg.boolean("output.save_best")) m.save((fs::path(m.out_dir) / "checkpoint-best").string(), false);
  } else {
    ++m.bad_evals;
  }
}

// The progress line and its "train" record; resets the sums.
static void log_progress(Trainer::Impl& m, Progress& pr, RunSummary& sum, const AdamWParams& p) {
  const auto now = Clock::now();
  const double dt = std::chrono::duration<double>(now - pr.last).count();
  const double elapsed = std::chrono::duration<double>(now - pr.start).count();
  const double per_step = elapsed / static_cast<double>(m.step - pr.start_step);
  const double epoch = static_cast<double>(m.step) / static_cast<double>(m.steps_per_epoch);
  const double mem = static_cast<double>(default_allocator(m.device).stats().peak) / 1048576.0;
  sum.train_loss = pr.loss_steps > 0 ? pr.loss / static_cast<double>(pr.loss_steps) : NAN;
  const double tps = static_cast<double>(pr.tokens) / std::max(dt, 1e-9);
  spdlog::info("step {}/{} epoch {:.2f} loss {:.4f} lr {:.3e} tokens/s {:.0f} eta {} peak {:.0f} MiB (rss {:.0f} MiB){}",
               m.step, m.total_steps, epoch, sum.train_loss, p.lr, tps,
               format_eta(per_step * static_cast<double>(m.total_steps - m.step)), mem, peak_rss_mib(),
               pr.skipped > 0 ? fmt::format(" [{} step(s) skipped: {}]", pr.skipped,
                                             m.scaler.enabled() ? "fp16 overflow or non-finite" : "non-finite")
                              : std::string());
  nlohmann::json rec = {{"type", "train"}, {"step", m.step}, {"epoch", epoch}, {"loss", sum.train_loss},
                        {"learning_rate", p.lr}, {"grad_norm", pr.grad_norm}, {"tokens_per_second", tps},
                        {"peak_memory_mib", mem}, {"peak_rss_mib", peak_rss_mib()}};
  if (pr.loss_steps == 0) rec["loss"] = nullptr;  // every step of the interval was skipped
  if (m.skipped_steps > 0) rec["skipped_steps"] = m.skipped_steps;
  if (m.scaler.enabled()) {
    rec["loss_scale"] = m.scaler.scale();
    rec["overflow_steps"] = m.scaler.overflows();
  }
  if (m.model_opts.ffn.enabled) rec["router_load"] = m.take_router_load();
  if (m.model_opts.ffn.balance_loss > 0) {
    rec["balance_loss"] = m.aux_acc / static_cast<double>(std::max<int64_t>(pr.loss_steps, 1));
    m.aux_acc = 0;
  }
  m.log_json(rec);
  pr.last = now;
  pr.loss = 0;
  pr.loss_steps = pr.tokens = pr.skipped = 0;
}

// The end of a completed run: the final model, the summary line and record.
static void finish_run(Trainer::Impl& m, RunSummary& sum, Clock::time_point start) {
  if (m.cfg.boolean("output.save_final")) {
    sum.final_model = (fs::path(m.out_dir) / "final").string();
    m.save(sum.final_model, false);
  }
  sum.steps = m.step;
  sum.best_metric = m.best;
  sum.best_step = m.best_step;
  if (m.best_step >= 0 && m.cfg.boolean("output.save_best"))
    sum.best_checkpoint = (fs::path(m.out_dir) / "checkpoint-best").string();
  sum.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  if (prof::enabled())
    spdlog::info("time per op over the whole run (SPT_PROFILE; wall time {:.1f} s):\n{}", sum.seconds,
                 prof::table());
  const double peak_mib = static_cast<double>(default_allocator(m.device).stats().peak) / 1048576.0;
  spdlog::info("done: {} steps in {:.1f} s; {} of {} parameters trained; peak tensor memory {:.0f} MiB, "
               "peak RSS {:.0f} MiB{}", sum.steps, sum.seconds, m.ps.num_trainable(), m.ps.num_params(), peak_mib,
               peak_rss_mib(),
               m.skipped_steps > 0 ? fmt::format("; {} non-finite step(s) skipped", m.skipped_steps) : std::string());
  nlohmann::json summary = {{"type", "summary"}, {"steps", sum.steps}, {"metric", sum.metric}, {"best", sum.best_metric},
                            {"best_step", sum.best_step}, {"seconds", sum.seconds}, {"final_model", sum.final_model},
                            {"trainable_params", m.ps.num_trainable()}, {"total_params", m.ps.num_params()},
                            {"peak_tensor_mib", peak_mib}, {"peak_rss_mib", peak_rss_mib()},
                            {"skipped_steps", m.skipped_steps}};
  if (m.scaler.enabled()) {
    summary["overflow_steps"] = m.scaler.overflows();
    summary["loss_scale"] = m.scaler.scale();
  }
  if (!m.quality.empty()) {
    data::Metrics q;
    m.add_quality_metrics(q);
    std::string layers;
    for (const auto& [layer, lq] : m.quality)
      layers += fmt::format(" {}:{:.3f}/{:.3f}", layer, lq.mean_mass(), lq.mean_recall());
    spdlog::info("[sparse] selection at the last evaluation: the chosen keys carry {:.3f} of the softmax mass of the "
                 "true top keys, recall {:.3f} (per layer mass/recall:{})", q[0].second, q[1].second, layers);
    summary["attn_mass_share"] = q[0].second;
    summary["attn_recall"] = q[1].second;
  }
  if (!m.ffn_share.empty() || !m.ffn_share_start.empty()) {
    data::Metrics f;
    m.add_ffn_metrics(f);
    double first = 0;
    for (const auto& [layer, s] : m.ffn_share_start) first += s.routed / static_cast<double>(m.ffn_share_start.size());
    if (!m.ffn_share_start.empty()) summary["ffn_share_step0"] = first;
    if (!f.empty()) summary["ffn_share"] = f[0].second;
    spdlog::info("[ffn] the chosen blocks carry {} of the block-output norm at step 0 and {} at the last evaluation",
                 m.ffn_share_start.empty() ? std::string("(not fitted)") : fmt::format("{:.3f}", first),
                 f.empty() ? std::string("(no evaluation)") : fmt::format("{:.3f}", f[0].second));
  }
  m.log_json(summary);
}

RunSummary Trainer::train(const std::string& resume) {
  Impl& m = *impl_;
  RunSummary sum;
  sum.metric = m.metric;
  sum.metrics_file = m.metrics_path;
  fs::create_directories(m.out_dir);
  m.best = m.greater_is_better ? -INFINITY : INFINITY;
  // Several processes: rank 0 picks the checkpoint (ranks may see a shared folder differently).
  std::string latest = resume == "auto" || resume == "latest" ? (m.root() ? m.latest_checkpoint() : "") : "";
  m.comm->broadcast(latest, 0);
  if (resume == "auto") {  // the newest checkpoint when there is one (a requeued batch job), else a fresh run
    if (!latest.empty()) m.resume(latest);
  } else if (!resume.empty()) {
    m.resume(resume == "latest" ? latest : resume);
  }
  m.calibrate_codebooks();
  m.calibrate_routers();
  m.broadcast_params();  // several processes: every rank starts from rank 0's weights
  const StopSignals signals;

  const uint64_t seed = static_cast<uint64_t>(m.cfg.integer("train.seed"));
  const int64_t log_every = m.cfg.integer("logging.every_steps");
  const int64_t eval_every = m.cfg.integer("eval.every_steps");
  const int64_t save_every = m.cfg.integer("output.save_every_steps");
  const int64_t patience = m.cfg.integer("eval.early_stopping_patience");
  const bool eval_epoch = m.cfg.boolean("eval.every_epoch") && !m.eval_sets.empty();
  default_allocator(m.device).reset_peak();

  spdlog::info("training: {} steps from step {}, {} examples, batch {} ({} x {}); {} of {} parameters trainable{}",
               m.total_steps, m.step, m.train_data.size(), m.micro_batch * m.accum, m.micro_batch, m.accum,
               m.ps.num_trainable(), m.ps.num_params(), m.model_opts.lora.enabled ? " (LoRA)" : "");
  if (m.comm->size() > 1)
    spdlog::info("data parallel: {} processes ({}, {}), each micro-batch of {} rows split over them",
                 m.comm->size(), m.comm->world().launcher, m.comm->backend(), m.micro_batch);
  Progress pr;
  pr.start = pr.last = Clock::now();
  pr.start_step = m.step;

  bool stop = false;
  bool evaluated_last = false;
  while (m.step < m.total_steps && !stop) {
    bool epoch_end = false;
    const std::vector<data::Batch> micro = next_micro_batches(m, epoch_end);
    model::KeySamples keys(m.model_opts.attention.max_samples);
    const bool update_codebooks = m.codebook_update_due();
    int64_t step_tokens = 0;
    double step_loss = m.forward_backward(micro, seed, update_codebooks ? &keys : nullptr, step_tokens);
    m.all_reduce_grads();
    bool stop_now = g_stop_signal.load() != 0;
    if (m.comm->size() > 1) {  // the step's loss and tokens over all ranks; a signal on any rank stops all
      double r[3] = {step_loss, static_cast<double>(step_tokens), stop_now ? 1.0 : 0.0};
      m.comm->all_reduce(std::span<double>(r, 3), comm::ReduceOp::sum);
      step_loss = r[0];
      step_tokens = static_cast<int64_t>(r[1]);
      stop_now = r[2] > 0;
    }
    pr.tokens += step_tokens;
    if (m.scaler.enabled()) backend_for(m.device).scale(m.ps.flat_grads(), static_cast<float>(1.0 / m.scaler.scale()));
    pr.grad_norm = ops::global_grad_norm({m.ps.flat_grads()});
    AdamWParams p = m.adam;
    if (m.scaler.enabled() && m.overflow_step(step_loss, pr.grad_norm)) {  // fp16: skipped, the scale halves
      p.lr = static_cast<float>(m.schedule.lr(m.step));
      ++pr.skipped;
    } else if (m.step_is_finite(step_loss, pr.grad_norm, micro, seed)) {
      p = m.optimizer_step(pr.grad_norm);
      if (update_codebooks) {
        model::update_codebooks(m.ps, m.mcfg, m.model_opts.attention, keys);
        m.broadcast_codebooks();
      }
      pr.loss += step_loss;
      ++pr.loss_steps;
    } else {  // skipped: weights, moments and codebooks as they were
      p.lr = static_cast<float>(m.schedule.lr(m.step));
      ++pr.skipped;
    }
    ++m.step;

    if (m.step % log_every == 0 || m.step == m.total_steps) log_progress(m, pr, sum, p);
    evaluated_last = false;
    if ((eval_every > 0 && m.step % eval_every == 0 && !m.eval_sets.empty()) || (eval_epoch && epoch_end)) {
      eval_and_track(m, eval_every > 0 && m.step % eval_every == 0 ? "steps" : "epoch");
      evaluated_last = true;
    }
    if (patience > 0 && m.bad_evals >= patience) {
      spdlog::info("early stopping: {} evaluations without improvement of {}", m.bad_evals, m.metric);
      sum.early_stopped = stop = true;
    }
    if ((save_every > 0 && m.step % save_every == 0) || stop_now) {
      m.save((fs::path(m.out_dir) / str_cat("checkpoint-", m.step)).string(), true);
      m.rotate_checkpoints();
    }
    if (stop_now && m.step < m.total_steps) {
      spdlog::warn("stopped by a signal (SIGTERM / SIGUSR1 / SIGINT) after step {} of {}: checkpoint-{} written; continue "
                   "with --resume (exit code {})", m.step, m.total_steps, m.step, comm::kExitStopped);
      sum.stopped = true;
      break;
    }
  }
  // Past the last step a Ctrl-C has no step to finish: it quits at once again.
  if (!sum.stopped) ::signal(SIGINT, SIG_DFL);
  if (sum.stopped) {
    sum.steps = m.step;
    sum.seconds = std::chrono::duration<double>(Clock::now() - pr.start).count();
    m.log_json({{"type", "stopped"}, {"step", m.step}, {"seconds", sum.seconds}});
    return sum;
  }
  // A last evaluation when the run ended between evaluations.
  if (!m.eval_sets.empty() && !evaluated_last && m.step > pr.start_step) eval_and_track(m, "end");
  finish_run(m, sum, pr.start);
  return sum;
}

}  // namespace spt::train
