// The routed FFN in a training run: the `ffn` config section, the routers
// (fitted to the FFN's activations on calibration batches, or drawn at random,
// before the first step), router load in the metrics log, and the share of the
// dense FFN output the chosen blocks carry (at step 0 and at every evaluation).
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

#include "spt/core/error.h"
#include "src/train/trainer_impl.h"

namespace spt::train {

namespace {

// Collects the inputs of routed layers (real tokens only).
struct FfnInputs : model::FfnProbe {
  model::KeySamples& samples;
  const model::RoutedFfnOptions& opts;
  FfnInputs(model::KeySamples& s, const model::RoutedFfnOptions& o) : samples(s), opts(o) {}
  void inputs(int64_t layer, const Tensor& x, const Tensor& token_mask) override {
    if (opts.is_routed_layer(layer)) samples.add(layer, x, token_mask);
  }
};

double mean_routed(const std::map<int64_t, model::FfnShare>& s) {
  double sum = 0;
  for (const auto& [layer, v] : s) sum += v.routed;
  return s.empty() ? 0.0 : sum / static_cast<double>(s.size());
}

double mean_oracle(const std::map<int64_t, model::FfnShare>& s) {
  double sum = 0;
  for (const auto& [layer, v] : s) sum += v.oracle;
  return s.empty() ? 0.0 : sum / static_cast<double>(s.size());
}

}  // namespace

void RouterLoad::load(int64_t layer, const std::vector<int64_t>& offsets) {
  std::vector<int64_t>& c = counts[layer];
  c.resize(offsets.empty() ? 0 : offsets.size() - 1, 0);
  for (size_t b = 0; b + 1 < offsets.size(); ++b) c[b] += offsets[b + 1] - offsets[b];
}

void Trainer::Impl::setup_ffn() {
  model::RoutedFfnOptions o;
  o.enabled = cfg.str("ffn.type") == "routed";
  o.blocks = cfg.integer("ffn.blocks");
  o.active = cfg.integer("ffn.active");
  o.layers = parse_layers(cfg.strings("ffn.layers"), "ffn.layers", cfg.source);
  o.gate = cfg.str("ffn.gate") == "softmax" ? RouteGate::softmax : RouteGate::sigmoid;
  o.router_init = cfg.str("ffn.router_init") == "random" ? model::RouterInit::random : model::RouterInit::activations;
  o.permute = cfg.str("ffn.permute") == "coactivation";
  o.balance_loss = cfg.number("ffn.balance_loss");
  o.calibration_batches = cfg.integer("ffn.calibration_batches");
  o.max_samples = cfg.integer("ffn.max_samples");
  if (o.enabled) {
    o.validate(mcfg, "[config] " + cfg.source);
  }
  model_opts.ffn = o;
  routers_ready = !o.enabled;
  if (o.enabled) spdlog::info("[ffn] {}", describe_ffn());
}

std::string Trainer::Impl::describe_ffn() const {
  const model::RoutedFfnOptions& o = model_opts.ffn;
  if (!o.enabled) return "dense";
  const model::FfnShape f = model::ffn_shape(mcfg);
  std::string layers;
  int64_t n = 0;
  for (int64_t l = 0; l < f.layers; ++l)
    if (o.is_routed_layer(l)) layers += (n++ ? "," : "") + std::to_string(l);
  const int64_t k = o.active_blocks();
  // Per token and routed layer: dense 4 d F multiply-adds x 2 (forward); routed
  // 4 d F k / blocks plus the router's 2 d blocks.
  const double dense = 4.0 * static_cast<double>(f.hidden * f.intermediate);
  const double routed = dense * static_cast<double>(k) / static_cast<double>(o.blocks) +
                        2.0 * static_cast<double>(f.hidden * o.blocks);
  return str_cat("routed in ", n, " of ", f.layers, " layers (", layers, "); ", k, " of ", o.blocks, " blocks of ",
                 f.intermediate / o.blocks, " neurons per token, ",
                 o.gate == RouteGate::softmax ? "softmax" : "sigmoid", " gates, router from ",
                 o.router_init == model::RouterInit::random ? "random init" : "the FFN's activations",
                 "; FFN FLOPs per token in those layers ", fmt::format("{:.0f}", 100.0 * routed / dense),
                 "% of dense", o.permute ? "; neurons permuted by co-activation" : "",
                 o.balance_loss > 0 ? fmt::format("; balance loss {}", o.balance_loss) : std::string());
}

void Trainer::Impl::calibrate_routers() {
  if (routers_ready) return;
  const model::RoutedFfnOptions& o = model_opts.ffn;
  const uint64_t seed = static_cast<uint64_t>(cfg.integer("train.seed"));
  const bool random = o.router_init == model::RouterInit::random;
  if (random && !o.permute) {
    model::init_routers_random(ps, mcfg, o, seed);
    routers_ready = true;
    spdlog::info("[ffn] routers drawn at random (N(0, 0.02), seed {})", seed);
    return;
  }
  const auto t0 = std::chrono::steady_clock::now();
  model::KeySamples samples(o.max_samples);
  FfnInputs probe(samples, o);
  model::StepContext ctx;
  ctx.ffn_probe = &probe;
  ctx.dense_ffn = true;  // the dense FFN the routers learn to predict
  const int64_t batches = calibration_forward(o.calibration_batches, ctx);
  nlohmann::json rec = {{"type", "router_fit"}, {"step", step}};
  if (o.permute) {
    // The layers' inputs do not change: permuting neurons leaves the dense function as it is.
    const auto shares = model::permute_neurons(ps, mcfg, o, samples, seed);
    double before = 0, after = 0;
    std::string layers;
    for (const auto& [layer, s] : shares) {
      before += s.first / static_cast<double>(shares.size());
      after += s.second / static_cast<double>(shares.size());
      layers += fmt::format(" {}:{:.3f}->{:.3f}", layer, s.first, s.second);
      rec["ffn_layers"][std::to_string(layer)]["best_unpermuted"] = s.first;
    }
    spdlog::info("[ffn] neurons permuted by co-activation: the best {} of {} blocks carry {:.3f} of the block-output "
                 "norm instead of {:.3f} (per layer:{})", o.active_blocks(), o.blocks, after, before, layers);
    rec["ffn_share_best_unpermuted"] = before;
  }
  if (random) {
    model::init_routers_random(ps, mcfg, o, seed);
    ffn_share_start = model::measure_ffn_share(ps, mcfg, o, samples);
  } else {
    ffn_share_start = model::fit_routers(ps, mcfg, o, samples);
  }
  routers_ready = true;
  std::string layers;
  for (const auto& [layer, s] : ffn_share_start)
    layers += fmt::format(" {}:{:.3f}/{:.3f}", layer, s.routed, s.oracle);
  spdlog::info("[ffn] routers {} ({} calibration batches, {:.1f} s); at step 0 the chosen blocks carry {:.3f} of the "
               "block-output norm (best possible {:.3f}, a token-blind choice {:.3f}; per layer routed/best:{})",
               random ? "drawn at random" : "fitted to the FFN activations", batches,
               std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(),
               mean_routed(ffn_share_start), mean_oracle(ffn_share_start),
               static_cast<double>(o.active_blocks()) / static_cast<double>(o.blocks), layers);
  rec["ffn_share"] = mean_routed(ffn_share_start);
  rec["ffn_share_best"] = mean_oracle(ffn_share_start);
  for (const auto& [layer, s] : ffn_share_start) {
    io::Json& r = rec["ffn_layers"][std::to_string(layer)];
    r["share"] = s.routed;
    r["best"] = s.oracle;
    r["tokens"] = s.tokens;
  }
  log_json(rec);
}

std::unique_ptr<model::FfnProbe> Trainer::Impl::ffn_share_probe(model::KeySamples& samples) const {
  return std::make_unique<FfnInputs>(samples, model_opts.ffn);
}

void Trainer::Impl::finish_ffn_share(const model::KeySamples& samples) {
  ffn_share = model::measure_ffn_share(ps, mcfg, model_opts.ffn, samples);
}

void Trainer::Impl::add_ffn_metrics(data::Metrics& m) const {
  if (ffn_share.empty()) return;
  m.push_back({"ffn_share", mean_routed(ffn_share)});
  m.push_back({"ffn_share_best", mean_oracle(ffn_share)});
}

nlohmann::json Trainer::Impl::take_router_load() {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [layer, c] : router_load.counts) {
    int64_t total = 0, most = 0;
    for (int64_t v : c) {
      total += v;
      most = std::max(most, v);
    }
    const double mean = c.empty() ? 0.0 : static_cast<double>(total) / static_cast<double>(c.size());
    out[std::to_string(layer)] = {{"imbalance", mean > 0 ? static_cast<double>(most) / mean : 0.0}, {"tokens", c}};
  }
  router_load.counts.clear();
  return out;
}

}  // namespace spt::train
