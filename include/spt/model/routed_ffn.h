// The routed FFN in the models (the config's `ffn` section; docs/routed-ffn.md):
// which layers route, how many neuron blocks each token runs, and the routers.
//
// A routed layer's router is a trained parameter spt adds to the model:
//   layers.<l>.ffn.router.weight  (blocks, d)
//   layers.<l>.ffn.router.bias    (blocks)
// saved in checkpoints (spt_tensors.safetensors), never in the Hugging Face
// file: the FFN weights themselves are untouched, so an exported model still
// computes the dense FFN.
//
// router_init = activations fits the router before the first step, by ridge
// least squares on calibration batches, to predict log ||Y_b|| (the norm of
// block b's contribution to the FFN output) of each token, centred per token;
// the logits are then scaled to a small spread (the gates, 1 at zero logits,
// stay near 1, so the model starts close to the pretrained function while the
// top-k already follows the blocks that matter). random draws N(0, 0.02).
//
// permute = coactivation first reorders each routed layer's neurons so that
// neurons firing on the same tokens share a block (neuron_permutation.cpp): the
// dense function is unchanged, the permuted weights are what checkpoints and
// exports hold.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "spt/io/json_util.h"
#include "spt/io/model_config.h"
#include "spt/model/parameters.h"
#include "spt/model/sparse_attention.h"  // KeySamples
#include "spt/ops/routed_ffn.h"

namespace spt::model {

enum class RouterInit { activations, random };

struct RoutedFfnOptions {
  bool enabled = false;          // ffn.type == "routed"
  int64_t blocks = 8;
  int64_t active = 0;            // blocks per token; 0: blocks / 2
  std::vector<int64_t> layers;   // routed layers (empty: all)
  RouteGate gate = RouteGate::sigmoid;
  RouterInit router_init = RouterInit::activations;
  bool permute = true;           // ffn.permute == "coactivation"
  double balance_loss = 0;       // weight of the load-balancing loss (0: none)
  int64_t calibration_batches = 4;
  int64_t max_samples = 8192;    // tokens per layer for the router fit

  bool is_routed_layer(int64_t layer) const;
  int64_t active_blocks() const { return active > 0 ? active : (blocks + 1) / 2; }
  ops::RouteOptions route() const { return {active_blocks(), gate}; }
  // What checkpoints store (config.json "spt"."ffn") and read back.
  io::Json to_json() const;
  static RoutedFfnOptions from_json(const io::Json& j, const std::string& context);
  // Checks the options against the model; errors start with `context`.
  void validate(const io::ModelConfig& cfg, const std::string& context) const;
};

// FFN geometry of a model: layers, hidden size d, intermediate size F.
struct FfnShape {
  int64_t layers = 0, hidden = 0, intermediate = 0;
};
FfnShape ffn_shape(const io::ModelConfig& cfg);

std::string router_weight_name(int64_t layer);
std::string router_bias_name(int64_t layer);

// Adds every routed layer's router (trainable).
void add_routed_ffn_params(std::vector<ParamInfo>& params, const io::ModelConfig& cfg, const RoutedFfnOptions& opts);
// Router weights N(0, 0.02), biases 0, from `seed` (router_init = random).
void init_routers_random(ParameterStore& ps, const io::ModelConfig& cfg, const RoutedFfnOptions& opts,
                         uint64_t seed);

// How much of the dense FFN output the chosen blocks carry, per routed layer:
// for each token, sum over kept blocks of ||Y_b|| / sum over all blocks of ||Y_b||,
// averaged; with the router's choice, the best possible choice (the k largest
// norms) and, for scale, k / blocks of a choice that ignores the token.
struct FfnShare {
  double routed = 0, oracle = 0;
  int64_t tokens = 0;
};

// The activation function of a model's FFN.
Activation ffn_activation(const io::ModelConfig& cfg);
// Layer `layer`'s FFN weights as neuron blocks, copied to the CPU (gate and the
// biases undefined where the model has none).
ops::BlockFfn layer_block_ffn(ParameterStore& ps, const io::ModelConfig& cfg, int64_t layer, int64_t blocks);
// ||Y_nb|| (n, blocks): the norm of block b's output for each row of x (n, d) in layer `layer` (on the CPU).
std::vector<double> block_output_norms(ParameterStore& ps, const io::ModelConfig& cfg, const RoutedFfnOptions& opts,
                                       int64_t layer, const Tensor& x);
// The share of the norm mass the best k of `blocks` carry, averaged over the n rows of norms.
double best_share(const std::vector<double>& norms, int64_t n, int64_t blocks, int64_t k);

// Co-activation permutation of every routed layer's neurons from the FFN inputs
// in `samples`; returns the best possible share (best_share) per layer before and after.
std::map<int64_t, std::pair<double, double>> permute_neurons(ParameterStore& ps, const io::ModelConfig& cfg,
                                                             const RoutedFfnOptions& opts, const KeySamples& samples,
                                                             uint64_t seed);

// Ridge fit of every routed layer's router from FFN inputs gathered in
// `samples` (rows of real tokens); returns the step-0 share per layer.
std::map<int64_t, FfnShare> fit_routers(ParameterStore& ps, const io::ModelConfig& cfg, const RoutedFfnOptions& opts,
                                        const KeySamples& samples);
// The share of the current routers on the FFN inputs in `samples`.
std::map<int64_t, FfnShare> measure_ffn_share(ParameterStore& ps, const io::ModelConfig& cfg,
                                              const RoutedFfnOptions& opts, const KeySamples& samples);

}  // namespace spt::model
