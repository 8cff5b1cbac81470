// Routed FFN options, router parameters and their random initialisation. See
// spt/model/routed_ffn.h; the activation-based router fit is in router_fit.cpp.
#include "spt/model/routed_ffn.h"

#include <algorithm>
#include <random>

#include "spt/core/error.h"

namespace spt::model {

bool RoutedFfnOptions::is_routed_layer(int64_t layer) const {
  if (!enabled) return false;
  return layers.empty() || std::find(layers.begin(), layers.end(), layer) != layers.end();
}

io::Json RoutedFfnOptions::to_json() const {
  return {{"type", "routed"},
          {"blocks", blocks},
          {"active", active_blocks()},
          {"layers", layers},
          {"gate", gate == RouteGate::softmax ? "softmax" : "sigmoid"},
          {"router_init", router_init == RouterInit::random ? "random" : "activations"},
          {"permute", permute ? "coactivation" : "none"},
          {"balance_loss", balance_loss},
          {"calibration_batches", calibration_batches},
          {"max_samples", max_samples}};
}

RoutedFfnOptions RoutedFfnOptions::from_json(const io::Json& j, const std::string& context) {
  SPT_CHECK(j.is_object(), context, ": \"ffn\" must be an object");
  RoutedFfnOptions o;
  try {
    o.enabled = j.value("type", "dense") == "routed";
    o.blocks = j.at("blocks").get<int64_t>();
    o.active = j.at("active").get<int64_t>();
    o.layers = j.value("layers", std::vector<int64_t>{});
    const std::string gate = j.value("gate", "sigmoid");
    SPT_CHECK(gate == "sigmoid" || gate == "softmax", context, ": ffn.gate is \"", gate, "\"; hint: sigmoid or softmax");
    o.gate = gate == "softmax" ? RouteGate::softmax : RouteGate::sigmoid;
    o.router_init = j.value("router_init", "activations") == "random" ? RouterInit::random : RouterInit::activations;
    o.permute = j.value("permute", "coactivation") == "coactivation";
    o.balance_loss = j.value("balance_loss", 0.0);
    o.calibration_batches = j.value("calibration_batches", int64_t{4});
    o.max_samples = j.value("max_samples", int64_t{8192});
  } catch (const nlohmann::json::exception& e) {
    fail(context, ": malformed \"ffn\" settings (", e.what(), ")");
  }
  return o;
}

FfnShape ffn_shape(const io::ModelConfig& cfg) {
  switch (cfg.family) {
    case io::ModelFamily::bert:
      return {cfg.bert.num_hidden_layers, cfg.bert.hidden_size, cfg.bert.intermediate_size};
    case io::ModelFamily::gpt2:
      return {cfg.gpt2.n_layer, cfg.gpt2.n_embd, cfg.gpt2.n_inner > 0 ? cfg.gpt2.n_inner : 4 * cfg.gpt2.n_embd};
    case io::ModelFamily::llama:
      return {cfg.llama.num_hidden_layers, cfg.llama.hidden_size, cfg.llama.intermediate_size};
    case io::ModelFamily::opt:
      return {cfg.opt.num_hidden_layers, cfg.opt.hidden_size, cfg.opt.ffn_dim};
  }
  return {};
}

void RoutedFfnOptions::validate(const io::ModelConfig& cfg, const std::string& context) const {
  if (!enabled) return;
  const FfnShape f = ffn_shape(cfg);
  SPT_CHECK(blocks >= 1 && blocks <= 128, context, ": ffn.blocks = ", blocks, " must be in [1, 128]; hint: 8");
  SPT_CHECK(f.intermediate % blocks == 0, context, ": ffn.blocks = ", blocks,
            " does not divide the intermediate size ", f.intermediate, " of ", cfg.source,
            " (blocks are equal slices of the FFN's neurons); hint: use a divisor of ", f.intermediate, " such as ",
            f.intermediate % 8 == 0 ? 8 : (f.intermediate % 4 == 0 ? 4 : 2));
  SPT_CHECK(active >= 0 && active <= blocks, context, ": ffn.active = ", active, " blocks per token, but there are ",
            blocks, " blocks; hint: 1 to ", blocks, " (0: half of them)");
  SPT_CHECK(calibration_batches >= 1, context, ": ffn.calibration_batches must be >= 1");
  SPT_CHECK(balance_loss >= 0, context, ": ffn.balance_loss = ", balance_loss, " must be >= 0 (0: none); hint: 0.01");
  SPT_CHECK(max_samples >= 16, context, ": ffn.max_samples = ", max_samples, " must be >= 16");
  for (int64_t l : layers)
    SPT_CHECK(l >= 0 && l < f.layers, context, ": ffn.layers names layer ", l, " but ", cfg.source, " has layers 0..",
              f.layers - 1, "; hint: list 0-based layer indices, or leave it empty for all");
}

std::string router_weight_name(int64_t layer) { return "layers." + std::to_string(layer) + ".ffn.router.weight"; }
std::string router_bias_name(int64_t layer) { return "layers." + std::to_string(layer) + ".ffn.router.bias"; }

void add_routed_ffn_params(std::vector<ParamInfo>& params, const io::ModelConfig& cfg, const RoutedFfnOptions& opts) {
  if (!opts.enabled) return;
  const FfnShape f = ffn_shape(cfg);
  for (int64_t l = 0; l < f.layers; ++l) {
    if (!opts.is_routed_layer(l)) continue;
    params.push_back({router_weight_name(l), {opts.blocks, f.hidden}, true, true});
    params.push_back({router_bias_name(l), {opts.blocks}, true, false});
  }
}

void init_routers_random(ParameterStore& ps, const io::ModelConfig& cfg, const RoutedFfnOptions& opts,
                         uint64_t seed) {
  const FfnShape f = ffn_shape(cfg);
  for (int64_t l = 0; l < f.layers; ++l) {
    if (!opts.is_routed_layer(l)) continue;
    std::mt19937_64 rng(seed ^ (0x9E3779B97F4A7C15ull * static_cast<uint64_t>(l + 1)));
    std::normal_distribution<double> nd(0.0, 0.02);
    std::vector<double> w(static_cast<size_t>(opts.blocks * f.hidden));
    for (double& v : w) v = nd(rng);
    ps.param(router_weight_name(l)).copy_from(Tensor::from_doubles(w, {opts.blocks, f.hidden}, DType::f32));
    ps.param(router_bias_name(l)).copy_from(Tensor::zeros({opts.blocks}, DType::f32));
  }
}

}  // namespace spt::model
