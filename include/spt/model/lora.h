// LoRA on spt's models (the config's `lora` section; docs/lora.md): which
// linear layers get adapters, the adapter parameters and their initialisation,
// and which parameters stay trainable, following Hugging Face PEFT's LoraConfig.
//
// Adapter parameters are named after their linear layer:
//   <module>.lora_A  (r, in)     <module>.lora_B  (out, r)
// e.g. layers.0.attn.q.lora_A. GPT-2's fused q/k/v projection (attn.qkv, HF
// c_attn) carries one adapter whose B rows [0,C), [C,2C), [2C,3C) produce q, k, v,
// as PEFT's adapter on c_attn does.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "spt/io/json_util.h"
#include "spt/io/model_config.h"
#include "spt/io/param_spec.h"
#include "spt/model/parameters.h"

namespace spt::model {

enum class LoraBias { none, all, lora_only };  // which base biases are trained too
enum class LoraInit { kaiming, gaussian };     // A's initialisation (B starts at 0)

struct LoraOptions {
  bool enabled = false;
  int64_t rank = 8;
  double alpha = 8;
  double dropout = 0;  // on the adapter's input, training only
  // Globs over linear-layer names: spt's ("attn.q", "layers.1.ffn.*") or Hugging
  // Face's module names ("query", "c_attn", "intermediate.dense"); a target
  // matches a module when it matches the whole name or a dotted suffix of it.
  // "all-linear": every attention and FFN linear layer.
  std::vector<std::string> targets = {"attn.q", "attn.v"};
  bool rslora = false;  // scale alpha / sqrt(r) instead of alpha / r
  LoraBias bias = LoraBias::none;
  // Modules trained fully besides the task head (globs as for targets), e.g. "pooler".
  std::vector<std::string> modules_to_save;
  LoraInit init = LoraInit::kaiming;

  double scale() const;
  // What checkpoints store (config.json "spt"."lora") and read back.
  io::Json to_json() const;
  static LoraOptions from_json(const io::Json& j, const std::string& context);
};

const char* lora_bias_name(LoraBias b);
const char* lora_init_name(LoraInit i);
LoraBias lora_bias_from_name(const std::string& s, const std::string& context);
LoraInit lora_init_from_name(const std::string& s, const std::string& context);

// A linear layer that can carry an adapter.
struct LoraModule {
  std::string name;     // spt module ("layers.0.attn.q"): parameters name + ".weight"
  std::string hf_name;  // path in the Hugging Face model ("bert.encoder.layer.0.attention.self.query")
  int64_t in = 0, out = 0;
  bool conv1d = false;  // stored (in, out) in HF files (GPT-2 Conv1D: PEFT's fan_in_fan_out)
};

// The attention and FFN linear layers of (cfg, head), in parameter order.
std::vector<LoraModule> lora_candidates(const io::ModelConfig& cfg, io::ModelHead head);

// The modules selected by opts.targets. Throws (listing the candidates) when a
// target matches no module, and when the selection is empty.
std::vector<LoraModule> lora_modules(const io::ModelConfig& cfg, io::ModelHead head,
                                     const LoraOptions& opts);

// Whether `pattern` selects the module (spt name or HF name, whole or dotted suffix).
bool lora_pattern_matches(const std::string& pattern, const std::string& name, const std::string& hf_name);

// A modules_to_save entry: as lora_pattern_matches, or naming a module that
// contains this one ("bert.pooler" contains "bert.pooler.dense"), as PEFT's
// wrapper of a whole submodule does.
bool saved_module_matches(const std::string& pattern, const std::string& module, const std::string& hf_module);

// Adds the adapters to `params` and sets every parameter's trainable flag by
// PEFT's rules: adapters, the task head (classifier), opts.bias's biases and
// opts.modules_to_save are trainable, everything else is frozen. Throws when a
// modules_to_save entry matches nothing.
void apply_lora(std::vector<ParamInfo>& params, const io::ModelConfig& cfg, io::ModelHead head,
                const LoraOptions& opts);

// PEFT's initialisation: A ~ U(-1/sqrt(in), 1/sqrt(in)) (Kaiming-uniform, a = sqrt 5)
// or N(0, 1/r^2) ("gaussian"), B = 0. Deterministic in `seed`.
void init_lora(ParameterStore& ps, const LoraOptions& opts, uint64_t seed);

// Dropout stream of a module's adapter: (layer, site) for dropout_at.
std::pair<int, int> lora_dropout_key(const std::string& module);

}  // namespace spt::model
