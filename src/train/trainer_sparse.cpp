// Sparse attention in a training run: the `attention` config section, the
// codebooks (k-means on calibration batches before the first step, mini-batch
// k-means updates during training) and the selection statistics of evaluation.
#include <spdlog/spdlog.h>

#include <chrono>

#include "spt/core/error.h"
#include "spt/model/attention_probes.h"
#include "src/train/trainer_impl.h"

namespace spt::train {

std::vector<int64_t> parse_layers(const std::vector<std::string>& items, const std::string& key,
                                  const std::string& source) {
  std::vector<int64_t> out;
  for (const std::string& it : items) {
    if (it == "all") return {};
    const size_t dash = it.find('-');
    try {
      size_t used = 0;
      if (dash == std::string::npos) {
        out.push_back(std::stoll(it, &used));
        SPT_CHECK(used == it.size(), "");
      } else {
        const int64_t a = std::stoll(it.substr(0, dash), &used);
        SPT_CHECK(used == dash, "");
        const int64_t b = std::stoll(it.substr(dash + 1), &used);
        SPT_CHECK(used == it.size() - dash - 1 && a <= b, "");
        for (int64_t l = a; l <= b; ++l) out.push_back(l);
      }
    } catch (const std::exception&) {
      fail("[config] ", source, ": ", key, " entry \"", it, "\" is not a layer index or range; "
           "hint: e.g. [\"0\", \"3-5\"], or [\"all\"]");
    }
  }
  return out;
}

void Trainer::Impl::setup_attention() {
  model::SparseAttentionOptions o;
  o.enabled = cfg.str("attention.type") == "sparse";
  o.select.top_l = cfg.integer("attention.top_l");
  o.select.top_ratio = static_cast<float>(cfg.number("attention.top_ratio"));
  o.select.min_l = cfg.integer("attention.min_l");
  o.select.keep_first = cfg.integer("attention.keep_first");
  o.select.local_window = cfg.integer("attention.local_window");
  o.select.rerank = cfg.integer("attention.pq.rerank");
  o.layers = parse_layers(cfg.strings("attention.layers"), "attention.layers", cfg.source);
  o.subvector_dim = cfg.integer("attention.pq.subvector_dim");
  o.codewords = cfg.integer("attention.pq.codewords");
  o.calibration_batches = cfg.integer("attention.pq.calibration_batches");
  o.update_every = cfg.integer("attention.pq.update_every");
  o.max_samples = cfg.integer("attention.pq.max_samples");
  o.cuda_kernel = cfg.str("attention.cuda.kernel") == "cusparse" ? SparseKernel::cusparse : SparseKernel::fused;
  o.deterministic = cfg.boolean("attention.cuda.deterministic");
  if (o.enabled) {
    o.validate(mcfg, "[config] " + cfg.source);
  }
  model_opts.attention = o;
  if (o.enabled) spdlog::info("[sparse] {}", describe_attention());
}

std::string Trainer::Impl::describe_attention() const {
  const model::SparseAttentionOptions& o = model_opts.attention;
  if (!o.enabled) return "dense";
  const model::AttentionShape a = model::attention_shape(mcfg);
  std::string layers;
  int64_t n = 0;
  for (int64_t l = 0; l < a.layers; ++l)
    if (o.is_sparse_layer(l)) layers += (n++ ? "," : "") + std::to_string(l);
  const int64_t T = cfg.integer("tokenizer.max_length");
  const int64_t L = ops::sparse_slots(o.select, T);
  return str_cat("sparse in ", n, " of ", a.layers, " layers (", layers, "); ",
                 o.select.top_l > 0 ? str_cat("L = ", o.select.top_l)
                                    : str_cat("L = max(", o.select.min_l, ", ", o.select.top_ratio, " x keys)"),
                 " -> ", L, " of ", T, " keys at max_length; PQ ", a.head_dim / o.subvector_dim, " x ",
                 o.codewords, " codewords, rerank ", o.select.rerank,
                 o.select.keep_first ? str_cat(", keep_first ", o.select.keep_first) : std::string(),
                 o.select.local_window ? str_cat(", local_window ", o.select.local_window) : std::string(),
                 o.cuda_kernel == SparseKernel::cusparse ? "; CUDA: cuSPARSE path" : "",
                 o.deterministic ? "; CUDA: deterministic backward" : "");
}

void Trainer::Impl::calibrate_codebooks() {
  if (codebooks_ready) return;
  const model::SparseAttentionOptions& o = model_opts.attention;
  const auto t0 = std::chrono::steady_clock::now();
  model::KeySamples samples(o.max_samples);
  model::KeySampleProbe probe(samples);
  model::StepContext ctx;
  ctx.probe = &probe;
  ctx.dense_attention = true;  // the keys of the model as it is
  const int64_t batches = calibration_forward(o.calibration_batches, ctx);
  model::kmeans_codebooks(ps, mcfg, o, samples, static_cast<uint64_t>(cfg.integer("train.seed")));
  codebooks_ready = true;
  int64_t keys = 0;
  for (const auto& [layer, rows] : samples.rows()) keys = std::max(keys, samples.count(layer));
  spdlog::info("[sparse] codebooks learned by k-means from {} keys per layer ({} calibration batches) in {:.1f} s",
               keys, batches, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
}

int64_t Trainer::Impl::calibration_forward(int64_t batches, const model::StepContext& probe_ctx) {
  model::StepContext ctx = probe_ctx;
  ctx.keep_saved = false;  // forward only
  data::BatchOptions opt = eval_opt;  // the training data in file order
  opt.batch_size = static_cast<size_t>(micro_batch);
  data::BatchIterator it(train_data, opt, pad_id);
  data::Batch b;
  int64_t n = 0;
  while (n < batches && it.next(b)) {
    Tensor labels;
    net->forward(to_model_batch(b, labels), ctx);
    ++n;
  }
  return n;
}

std::unique_ptr<model::AttentionProbe> Trainer::Impl::key_probe(model::KeySamples& keys) const {
  return std::make_unique<model::KeySampleProbe>(keys);
}

std::unique_ptr<model::AttentionProbe> Trainer::Impl::quality_probe() {
  // One item and 32 query rows per head of every batch: cheap enough to leave on
  // (at T = 512 two items x 64 rows doubled the evaluation time of MiniLM).
  return std::make_unique<model::SelectionQualityProbe>(quality, /*items=*/1, /*rows=*/32);
}

void Trainer::Impl::add_quality_metrics(data::Metrics& m) const {
  if (quality.empty()) return;
  double mass = 0, recall = 0;
  for (const auto& [layer, q] : quality) {
    mass += q.mean_mass();
    recall += q.mean_recall();
  }
  const double n = static_cast<double>(quality.size());
  m.push_back({"attn_mass_share", mass / n});
  m.push_back({"attn_recall", recall / n});
}

bool Trainer::Impl::codebook_update_due() const {
  const int64_t every = model_opts.attention.update_every;
  return model_opts.attention.enabled && every > 0 && (step + 1) % every == 0;
}

}  // namespace spt::train
