// LoRA for spt's models: module selection (PEFT's target matching), adapter
// parameters, trainable flags and initialisation (see include/spt/model/lora.h).
#include "spt/model/lora.h"

#include <cmath>
#include <map>
#include <random>
#include <set>

#include "spt/core/error.h"
#include "spt/io/weight_map.h"
#include "spt/model/init.h"

namespace spt::model {

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The layer-linear suffixes that can carry adapters, in a fixed order (the
// order also numbers their dropout streams).
const std::vector<std::string>& lora_suffixes() {
  static const std::vector<std::string> s = {"attn.q", "attn.k",  "attn.v",   "attn.qkv",
                                             "attn.out", "ffn.up", "ffn.down", "ffn.gate"};
  return s;
}

// "layers.<i>.<suffix>" -> (i, suffix index); (-1, -1) otherwise.
std::pair<int64_t, int> parse_layer_linear(const std::string& module) {
  if (module.rfind("layers.", 0) != 0) return {-1, -1};
  const size_t dot = module.find('.', 7);
  if (dot == std::string::npos) return {-1, -1};
  const std::string idx = module.substr(7, dot - 7);
  if (idx.empty() || idx.find_first_not_of("0123456789") != std::string::npos) return {-1, -1};
  const std::string rest = module.substr(dot + 1);
  const auto& s = lora_suffixes();
  for (size_t i = 0; i < s.size(); ++i)
    if (rest == s[i]) return {std::stoll(idx), static_cast<int>(i)};
  return {-1, -1};
}

std::string strip(const std::string& param, const std::string& suffix) {
  return param.substr(0, param.size() - suffix.size());
}

std::string join(const std::vector<std::string>& v, size_t max = 12) {
  std::string out;
  for (size_t i = 0; i < v.size() && i < max; ++i) out += (i ? ", " : "") + v[i];
  if (v.size() > max) out += ", ... (" + std::to_string(v.size()) + " in all)";
  return out;
}

// The HF module path of a parameter mapping (with the base prefix when the HF
// class for `head` writes one).
std::string hf_module(const io::ParamMapping& m, const io::ModelConfig& cfg, io::ModelHead head,
                      const std::string& suffix) {
  const std::string prefix = (head != io::ModelHead::none && m.in_base) ? io::base_prefix(cfg.family) : "";
  return prefix + strip(m.hf, suffix);
}

}  // namespace

double LoraOptions::scale() const {
  const double r = static_cast<double>(rank);
  return rslora ? alpha / std::sqrt(r) : alpha / r;
}

const char* lora_bias_name(LoraBias b) {
  switch (b) {
    case LoraBias::none: return "none";
    case LoraBias::all: return "all";
    case LoraBias::lora_only: return "lora_only";
  }
  return "?";
}

const char* lora_init_name(LoraInit i) { return i == LoraInit::gaussian ? "gaussian" : "kaiming"; }

LoraBias lora_bias_from_name(const std::string& s, const std::string& context) {
  if (s == "none") return LoraBias::none;
  if (s == "all") return LoraBias::all;
  if (s == "lora_only") return LoraBias::lora_only;
  fail(context, ": lora bias \"", s, "\" is not one of none, all, lora_only");
}

LoraInit lora_init_from_name(const std::string& s, const std::string& context) {
  if (s == "kaiming") return LoraInit::kaiming;
  if (s == "gaussian") return LoraInit::gaussian;
  fail(context, ": lora init \"", s, "\" is not one of kaiming, gaussian");
}

io::Json LoraOptions::to_json() const {
  return {{"rank", rank},        {"alpha", alpha},          {"dropout", dropout},
          {"targets", targets},  {"rslora", rslora},        {"bias", lora_bias_name(bias)},
          {"modules_to_save", modules_to_save}, {"init", lora_init_name(init)}};
}

LoraOptions LoraOptions::from_json(const io::Json& j, const std::string& context) {
  SPT_CHECK(j.is_object(), context, ": \"lora\" must be an object");
  LoraOptions o;
  o.enabled = true;
  try {
    o.rank = j.at("rank").get<int64_t>();
    o.alpha = j.at("alpha").get<double>();
    o.dropout = j.value("dropout", 0.0);
    o.targets = j.at("targets").get<std::vector<std::string>>();
    o.rslora = j.value("rslora", false);
    o.bias = lora_bias_from_name(j.value("bias", "none"), context);
    o.modules_to_save = j.value("modules_to_save", std::vector<std::string>{});
    o.init = lora_init_from_name(j.value("init", "kaiming"), context);
  } catch (const nlohmann::json::exception& e) {
    fail(context, ": malformed \"lora\" settings (", e.what(), ")");
  }
  SPT_CHECK(o.rank >= 1 && o.alpha > 0 && o.dropout >= 0 && o.dropout < 1, context,
            ": invalid \"lora\" settings ", j.dump());
  return o;
}

bool lora_pattern_matches(const std::string& pattern, const std::string& name, const std::string& hf_name) {
  for (const std::string* n : {&name, &hf_name}) {
    if (n->empty()) continue;
    if (glob_match(pattern, *n) || glob_match("*." + pattern, *n)) return true;
  }
  return false;
}

bool saved_module_matches(const std::string& pattern, const std::string& module, const std::string& hf_module) {
  if (lora_pattern_matches(pattern, module, hf_module)) return true;
  return !hf_module.empty() && (glob_match(pattern + ".*", hf_module) || glob_match("*." + pattern + ".*", hf_module));
}

std::vector<LoraModule> lora_candidates(const io::ModelConfig& cfg, io::ModelHead head) {
  std::vector<LoraModule> out;
  for (const io::ParamMapping& m : io::param_mappings(cfg, head)) {
    if (!ends_with(m.spec.name, ".weight") || m.spec.shape.size() != 2) continue;
    const std::string module = strip(m.spec.name, ".weight");
    if (parse_layer_linear(module).first < 0) continue;
    LoraModule lm;
    lm.name = module;
    lm.hf_name = hf_module(m, cfg, head, ".weight");
    lm.out = m.spec.shape[0];
    lm.in = m.spec.shape[1];
    lm.conv1d = m.transpose;
    out.push_back(std::move(lm));
  }
  return out;
}

std::vector<LoraModule> lora_modules(const io::ModelConfig& cfg, io::ModelHead head,
                                     const LoraOptions& opts) {
  const std::vector<LoraModule> all = lora_candidates(cfg, head);
  std::vector<std::string> names;
  for (const LoraModule& m : all) names.push_back(m.name);
  SPT_CHECK(!opts.targets.empty(), "[lora] lora.targets is empty; hint: list the linear layers to adapt, "
            "e.g. [\"attn.q\", \"attn.v\"], or \"all-linear\"");
  std::set<std::string> chosen;
  for (const std::string& t : opts.targets) {
    bool hit = false;
    for (const LoraModule& m : all) {
      if (t == "all-linear" || lora_pattern_matches(t, m.name, m.hf_name)) {
        chosen.insert(m.name);
        hit = true;
      }
    }
    if (!hit) {
      std::string hint = "targets are globs over the attention and FFN linear layers, by spt name "
                         "(attn.q, layers.0.ffn.*) or Hugging Face module name";
      if (cfg.family == io::ModelFamily::gpt2 && (t == "attn.q" || t == "attn.k" || t == "attn.v"))
        hint = "GPT-2 keeps q, k and v in one fused projection: target \"attn.qkv\" (HF c_attn)";
      fail("[lora] lora.targets entry \"", t, "\" matches no linear layer of this ",
           io::family_name(cfg.family), " model; hint: ", hint, ". The layers are: ", join(names));
    }
  }
  std::vector<LoraModule> out;
  for (const LoraModule& m : all)
    if (chosen.count(m.name)) out.push_back(m);
  return out;
}

void apply_lora(std::vector<ParamInfo>& params, const io::ModelConfig& cfg, io::ModelHead head,
                const LoraOptions& opts) {
  SPT_CHECK(opts.rank >= 1, "[lora] lora.rank must be >= 1, got ", opts.rank);
  SPT_CHECK(opts.alpha > 0, "[lora] lora.alpha must be > 0, got ", opts.alpha);
  SPT_CHECK(opts.dropout >= 0 && opts.dropout < 1, "[lora] lora.dropout must be in [0, 1), got ",
            opts.dropout);
  const std::vector<LoraModule> modules = lora_modules(cfg, head, opts);
  std::set<std::string> targeted;
  for (const LoraModule& m : modules) targeted.insert(m.name);
  // HF module names of every parameter's module, for modules_to_save.
  std::map<std::string, std::string> hf_of;
  for (const io::ParamMapping& m : io::param_mappings(cfg, head)) {
    const size_t dot = m.spec.name.rfind('.');
    const size_t hdot = m.hf.rfind('.');
    hf_of[m.spec.name.substr(0, dot)] = hf_module(m, cfg, head, m.hf.substr(hdot));
  }
  std::vector<bool> saved_hit(opts.modules_to_save.size(), false);
  for (ParamInfo& p : params) {
    const size_t dot = p.name.rfind('.');
    const std::string module = p.name.substr(0, dot), leaf = p.name.substr(dot + 1);
    bool train = module == "classifier";  // the task head, as PEFT's SEQ_CLS
    if (leaf == "bias")
      train = train || opts.bias == LoraBias::all || (opts.bias == LoraBias::lora_only && targeted.count(module));
    for (size_t i = 0; i < opts.modules_to_save.size(); ++i) {
      if (saved_module_matches(opts.modules_to_save[i], module, hf_of[module])) {
        saved_hit[i] = true;
        train = true;
      }
    }
    p.trainable = train;
  }
  for (size_t i = 0; i < saved_hit.size(); ++i)
    SPT_CHECK(saved_hit[i], "[lora] lora.modules_to_save entry \"", opts.modules_to_save[i],
              "\" matches no module; hint: name modules by spt name (\"pooler\", \"layers.5.ffn_norm\") "
              "or Hugging Face name (\"bert.pooler.dense\")");
  for (const LoraModule& m : modules) {
    params.push_back({m.name + ".lora_A", {opts.rank, m.in}, true, true});
    params.push_back({m.name + ".lora_B", {m.out, opts.rank}, true, true});
  }
}

void init_lora(ParameterStore& ps, const LoraOptions& opts, uint64_t seed) {
  uint64_t salt = 0;
  for (const ParamInfo& p : ps.infos()) {
    if (ends_with(p.name, ".lora_B")) {
      ps.param(p.name).zero_();
      continue;
    }
    if (!ends_with(p.name, ".lora_A")) continue;
    const int64_t n = shape_numel(p.shape), in = p.shape[1];
    const uint64_t s = seed * 0x9E3779B97F4A7C15ull + 0x10AD + ++salt;
    const std::vector<double> v =
        opts.init == LoraInit::gaussian
            ? normal_values(s, n, 1.0 / static_cast<double>(opts.rank))
            : uniform_values(s, n, -1.0 / std::sqrt(static_cast<double>(in)),
                             1.0 / std::sqrt(static_cast<double>(in)));
    ps.param(p.name).copy_from(Tensor::from_doubles(v, p.shape, DType::f32));
  }
}

std::pair<int, int> lora_dropout_key(const std::string& module) {
  const auto [layer, site] = parse_layer_linear(module);
  SPT_CHECK(layer >= 0, "[lora] ", module, " is not a layer linear");
  return {static_cast<int>(layer) + 1, 16 + site};
}

}  // namespace spt::model
