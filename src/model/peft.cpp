// PEFT LoRA adapters in and out (see include/spt/model/peft.h).
#include "spt/model/peft.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <regex>
#include <set>

#include "spt/backend/backend.h"
#include "spt/core/error.h"
#include "spt/io/atomic_dir.h"
#include "spt/io/json_util.h"
#include "spt/io/safetensors.h"
#include "spt/io/weight_map.h"

namespace spt::model {

namespace fs = std::filesystem;

namespace {

const std::string kPrefix = "base_model.model.";

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string module_of(const std::string& param) { return param.substr(0, param.rfind('.')); }

// spt parameter name -> its full HF parameter name in the model class of `head`.
std::map<std::string, std::string> hf_names(const io::ModelConfig& cfg, io::ModelHead head) {
  std::map<std::string, std::string> out;
  const std::string prefix = head != io::ModelHead::none ? io::base_prefix(cfg.family) : "";
  for (const io::ParamMapping& m : io::param_mappings(cfg, head))
    out[m.spec.name] = (m.in_base ? prefix : "") + m.hf;
  return out;
}

// Whether a parameter is trained in full as part of a saved module (the head or
// opts.modules_to_save): PEFT's ModulesToSaveWrapper.
bool in_saved_module(const std::string& module, const std::string& hf_module, const LoraOptions& opts) {
  if (module == "classifier") return true;
  for (const std::string& pat : opts.modules_to_save)
    if (saved_module_matches(pat, module, hf_module)) return true;
  return false;
}


// The PEFT name of an spt parameter given the precomputed tables.
std::string peft_name(const std::string& p, const std::map<std::string, std::string>& hf,
                      const std::map<std::string, std::string>& lora_hf, const std::set<std::string>& targeted,
                      const LoraOptions& opts, bool in_memory) {
  const std::string def = in_memory ? ".default" : "";
  for (const char* which : {".lora_A", ".lora_B"}) {
    if (!ends_with(p, which)) continue;
    const auto it = lora_hf.find(p.substr(0, p.size() - 7));
    return it == lora_hf.end() ? "" : kPrefix + it->second + which + def + ".weight";
  }
  const auto it = hf.find(p);
  if (it == hf.end()) return "";
  const std::string module = module_of(p), hf_module = module_of(it->second);
  const std::string leaf = it->second.substr(hf_module.size());  // ".weight" / ".bias"
  if (in_saved_module(module, hf_module, opts))
    return kPrefix + hf_module + (in_memory ? ".modules_to_save.default" : "") + leaf;
  const bool bias = leaf == ".bias";
  const bool trained_bias = bias && (opts.bias == LoraBias::all ||
                                     (opts.bias == LoraBias::lora_only && targeted.count(module)));
  if (!trained_bias) return "";
  return kPrefix + hf_module + (targeted.count(module) ? ".base_layer" : "") + leaf;
}

struct NameTables {
  std::map<std::string, std::string> hf, lora_hf;
  std::set<std::string> targeted;
};

NameTables name_tables(const io::ModelConfig& cfg, io::ModelHead head, const LoraOptions& opts) {
  NameTables t;
  t.hf = hf_names(cfg, head);
  for (const LoraModule& m : lora_modules(cfg, head, opts)) {
    t.lora_hf[m.name] = m.hf_name;
    t.targeted.insert(m.name);
  }
  return t;
}

std::vector<std::string> json_strings(const io::Json& v, const std::string& ctx, const char* key) {
  if (v.is_null()) return {};
  SPT_CHECK(v.is_array(), ctx, ": \"", key, "\" must be a list of strings or null");
  std::vector<std::string> out;
  for (const auto& e : v) {
    SPT_CHECK(e.is_string(), ctx, ": \"", key, "\" must be a list of strings");
    out.push_back(e.get<std::string>());
  }
  return out;
}

// LoraOptions from adapter_config.json, targets resolved to spt module names.
LoraOptions options_from_config(const io::Json& c, const std::string& ctx, const io::ModelConfig& cfg,
                                io::ModelHead head) {
  SPT_CHECK(c.is_object(), ctx, " is not a JSON object");
  const std::string type = c.value("peft_type", "");
  SPT_CHECK(type == "LORA", ctx, ": peft_type is \"", type, "\"; spt reads LoRA adapters only");
  SPT_CHECK(!c.value("use_dora", false), ctx, ": DoRA adapters (use_dora) are not supported by spt; "
            "hint: train a plain LoRA adapter");
  SPT_CHECK(!c.value("lora_bias", false), ctx, ": lora_bias (a bias on B) is not supported by spt");
  for (const char* key : {"rank_pattern", "alpha_pattern"}) {
    SPT_CHECK(!c.contains(key) || c[key].is_null() || (c[key].is_object() && c[key].empty()), ctx,
              ": per-module ", key, " is not supported by spt; hint: use one rank and alpha for all modules");
  }
  SPT_CHECK(!c.contains("layers_to_transform") || c["layers_to_transform"].is_null(), ctx,
            ": layers_to_transform is not supported by spt; hint: list the modules in target_modules");
  if (c.contains("init_lora_weights") && c["init_lora_weights"].is_string()) {
    const std::string init = c["init_lora_weights"].get<std::string>();
    SPT_CHECK(init == "gaussian", ctx, ": init_lora_weights \"", init, "\" rewrites the base weights "
              "(PiSSA, OLoRA, LoftQ, ...), so the adapter only matches that modified base; not supported");
  }
  LoraOptions o;
  o.enabled = true;
  const auto r = io::get_int(c, "r", ctx);
  o.rank = r.value_or(8);
  o.alpha = io::get_number(c, "lora_alpha", ctx).value_or(8.0);
  o.dropout = io::get_number(c, "lora_dropout", ctx).value_or(0.0);
  o.rslora = io::get_bool(c, "use_rslora", ctx).value_or(false);
  o.bias = lora_bias_from_name(io::get_string(c, "bias", ctx).value_or("none"), ctx);
  o.init = c.contains("init_lora_weights") && c["init_lora_weights"].is_string() ? LoraInit::gaussian
                                                                                 : LoraInit::kaiming;
  SPT_CHECK(o.rank >= 1 && o.alpha > 0 && o.dropout >= 0 && o.dropout < 1, ctx,
            ": r, lora_alpha or lora_dropout out of range (r ", o.rank, ", alpha ", o.alpha, ", dropout ",
            o.dropout, ")");
  // Targets: a list (exact name or dotted suffix), one regex (full match), or "all-linear".
  std::vector<LoraModule> chosen;
  const std::vector<LoraModule> all = lora_candidates(cfg, head);
  const io::Json tm = c.value("target_modules", io::Json());
  if (tm.is_string()) {
    const std::string s = tm.get<std::string>();
    if (s == "all-linear") {
      chosen = all;
    } else {
      const std::regex re(s);
      for (const LoraModule& m : all)
        if (std::regex_match(m.hf_name, re)) chosen.push_back(m);
    }
  } else {
    LoraOptions probe = o;
    probe.targets = json_strings(tm, ctx, "target_modules");
    SPT_CHECK(!probe.targets.empty(), ctx, ": target_modules is empty or null; hint: name the adapted modules");
    // PEFT matches by exact name or dotted suffix only (no wildcards): entries
    // are tried one by one, and ones that match nothing are allowed, as in PEFT.
    for (const LoraModule& m : all)
      for (const std::string& t : probe.targets)
        if (m.hf_name == t || ends_with(m.hf_name, "." + t)) {
          chosen.push_back(m);
          break;
        }
  }
  SPT_CHECK(!chosen.empty(), ctx, ": target_modules ", tm.dump(), " matches no linear layer of this ",
            io::family_name(cfg.family), " model");
  o.targets.clear();
  for (const LoraModule& m : chosen) o.targets.push_back(m.name);
  // The head is always trained (PEFT's SEQ_CLS lists "classifier" and "score").
  for (const std::string& s : json_strings(c.value("modules_to_save", io::Json()), ctx, "modules_to_save"))
    if (s != "classifier" && s != "score") o.modules_to_save.push_back(s);
  return o;
}

}  // namespace

std::string peft_param_name(const std::string& spt_name, const io::ModelConfig& cfg, io::ModelHead head,
                            const LoraOptions& opts, bool in_memory) {
  const NameTables t = name_tables(cfg, head, opts);
  return peft_name(spt_name, t.hf, t.lora_hf, t.targeted, opts, in_memory);
}

PeftAdapter read_peft_adapter(const std::string& dir, const io::ModelConfig& cfg, io::ModelHead head) {
  const fs::path config_path = fs::path(dir) / "adapter_config.json";
  const fs::path weights_path = fs::path(dir) / "adapter_model.safetensors";
  SPT_CHECK(fs::is_regular_file(config_path), "[peft] ", dir, " has no adapter_config.json; hint: point at "
            "the folder PeftModel.save_pretrained wrote");
  SPT_CHECK(fs::is_regular_file(weights_path), "[peft] ", dir, " has no adapter_model.safetensors",
            fs::is_regular_file(fs::path(dir) / "adapter_model.bin")
                ? " (only the pickle adapter_model.bin, which spt does not read; hint: load it in PEFT and "
                  "save_pretrained(..., safe_serialization=True))"
                : "");
  const std::string ctx = "[peft] " + config_path.string();
  const io::Json c = io::read_json_file(config_path.string(), "peft");
  PeftAdapter out;
  out.options = options_from_config(c, ctx, cfg, head);
  out.base_model = c.contains("base_model_name_or_path") && c["base_model_name_or_path"].is_string()
                       ? c["base_model_name_or_path"].get<std::string>()
                       : "";
  // Every parameter of the LoRA model that belongs in the adapter, by PEFT name.
  std::vector<ParamInfo> infos;
  for (const io::ParamSpec& s : io::param_specs(cfg, head)) infos.push_back({s.name, s.shape, true, true});
  apply_lora(infos, cfg, head, out.options);
  const NameTables t = name_tables(cfg, head, out.options);
  std::map<std::string, const ParamInfo*> wanted;
  for (const ParamInfo& p : infos) {
    const std::string n = peft_name(p.name, t.hf, t.lora_hf, t.targeted, out.options, false);
    if (!n.empty()) wanted[n] = &p;
  }
  const io::SafetensorsReader reader(weights_path.string());
  const std::string wctx = "[peft] " + weights_path.string();
  std::vector<std::string> unknown;
  std::set<std::string> found;
  for (const io::TensorInfo& ti : reader.tensors()) {
    // PEFT also writes the wrapper's copies under bias="all"; the plain name is authoritative.
    if (ti.name.find(".original_module.") != std::string::npos ||
        ti.name.find(".modules_to_save.") != std::string::npos)
      continue;
    const auto it = wanted.find(ti.name);
    if (it == wanted.end()) {
      unknown.push_back(ti.name);
      continue;
    }
    const Tensor v = reader.load(ti.name, DType::f32);
    SPT_CHECK(v.shape() == it->second->shape, wctx, ": ", ti.name, " has shape ", shape_str(v.shape()),
              ", expected ", shape_str(it->second->shape), " for ", it->second->name,
              ends_with(it->second->name, ".lora_A") ? " (rank r from adapter_config.json)" : "");
    out.tensors.emplace_back(it->second->name, v);
    found.insert(ti.name);
  }
  std::vector<std::string> missing;
  for (const auto& [name, p] : wanted)
    if (!found.count(name)) missing.push_back(name);
  auto list = [](const std::vector<std::string>& v) {
    std::string s;
    for (size_t i = 0; i < v.size() && i < 8; ++i) s += (i ? ", " : "") + v[i];
    return v.size() > 8 ? s + ", ... (" + std::to_string(v.size()) + ")" : s;
  };
  SPT_CHECK(unknown.empty(), wctx, ": ", unknown.size(), " tensor(s) do not belong to a LoRA adapter of this ",
            io::family_name(cfg.family), " model with the settings in adapter_config.json: ", list(unknown),
            "; hint: was the adapter trained on another base model?");
  SPT_CHECK(missing.empty(), wctx, ": missing ", missing.size(), " tensor(s): ", list(missing));
  return out;
}

void write_peft_adapter(const std::string& dir, const io::ModelConfig& cfg, io::ModelHead head,
                        const LoraOptions& opts, const std::vector<std::pair<std::string, Tensor>>& params,
                        const std::string& base_model) {
  const NameTables t = name_tables(cfg, head, opts);
  std::vector<std::pair<std::string, Tensor>> tensors;
  for (const auto& [name, v] : params) {
    const std::string n = peft_name(name, t.hf, t.lora_hf, t.targeted, opts, false);
    if (!n.empty()) tensors.emplace_back(n, v);
  }
  SPT_CHECK(!tensors.empty(), "[peft] nothing to export: the model has no LoRA adapter");
  std::vector<std::string> targets, saved;
  for (const LoraModule& m : lora_modules(cfg, head, opts)) targets.push_back(m.hf_name);
  if (head == io::ModelHead::sequence_classification)
    saved.push_back(cfg.family == io::ModelFamily::bert ? "classifier" : "score");
  const auto hf = hf_names(cfg, head);
  for (const auto& [spt_name, hf_name] : hf) {
    const std::string module = module_of(spt_name), hf_module = module_of(hf_name);
    if (module != "classifier" && in_saved_module(module, hf_module, opts) &&
        std::find(saved.begin(), saved.end(), hf_module) == saved.end())
      saved.push_back(hf_module);
  }
  nlohmann::ordered_json c;
  c["peft_type"] = "LORA";
  c["task_type"] = head == io::ModelHead::causal_lm                 ? io::Json("CAUSAL_LM")
                   : head == io::ModelHead::sequence_classification ? io::Json("SEQ_CLS")
                                                                   : io::Json("FEATURE_EXTRACTION");
  c["base_model_name_or_path"] = base_model.empty() ? io::Json() : io::Json(base_model);
  c["r"] = opts.rank;
  c["lora_alpha"] = opts.alpha;
  c["lora_dropout"] = opts.dropout;
  c["use_rslora"] = opts.rslora;
  c["bias"] = lora_bias_name(opts.bias);
  c["target_modules"] = targets;  // full module paths: exact, never ambiguous
  c["modules_to_save"] = saved.empty() ? io::Json() : io::Json(saved);
  c["fan_in_fan_out"] = cfg.family == io::ModelFamily::gpt2;
  c["init_lora_weights"] = opts.init == LoraInit::gaussian ? io::Json("gaussian") : io::Json(true);
  c["inference_mode"] = true;
  c["use_dora"] = false;
  c["lora_bias"] = false;
  c["layers_to_transform"] = nullptr;
  c["layers_pattern"] = nullptr;
  c["rank_pattern"] = nlohmann::ordered_json::object();
  c["alpha_pattern"] = nlohmann::ordered_json::object();
  c["revision"] = nullptr;
  io::AtomicDir out(dir, "export-peft", [](const std::string&) { return false; });
  io::write_json_file((fs::path(out.path()) / "adapter_config.json").string(), c);
  io::write_safetensors((fs::path(out.path()) / "adapter_model.safetensors").string(), tensors, {{"format", "pt"}});
  out.commit();
}

void merge_lora(std::vector<std::pair<std::string, Tensor>>& params, const LoraOptions& opts) {
  std::map<std::string, Tensor*> by_name;
  for (auto& [name, t] : params) by_name[name] = &t;
  const float s = static_cast<float>(opts.scale());
  for (auto& [name, a] : params) {
    if (!ends_with(name, ".lora_A")) continue;
    const std::string module = name.substr(0, name.size() - 7);
    const auto bi = by_name.find(module + ".lora_B");
    const auto wi = by_name.find(module + ".weight");
    SPT_CHECK(bi != by_name.end() && wi != by_name.end(), "[lora] ", name, " has no matching ",
              bi == by_name.end() ? module + ".lora_B" : module + ".weight");
    Tensor& w = *wi->second;
    const Tensor& b = *bi->second;
    SPT_CHECK(w.dtype() == DType::f32 && a.dtype() == DType::f32 && b.dtype() == DType::f32, "[lora] merge "
              "needs f32 tensors, got ", w.str());
    const int64_t out = w.dim(0), in = w.dim(1), r = a.dim(0);
    SPT_CHECK(a.shape() == Shape({r, in}) && b.shape() == Shape({out, r}), "[lora] ", module,
              ": adapter shapes ", a.str(), " / ", b.str(), " do not fit the weight ", w.str());
    // W (out, in) += s * B (out, r) A (r, in)
    backend_for(w.device()).gemm({.m = out, .n = in, .k = r, .lda = r, .ldb = in, .ldc = in, .alpha = s,
                                  .beta = 1.f},
                                 w, b, a);
  }
  std::erase_if(params, [](const auto& p) { return ends_with(p.first, ".lora_A") || ends_with(p.first, ".lora_B"); });
}

}  // namespace spt::model
