// spt-convert: inspect and convert checkpoints.
//
//   spt-convert inspect PATH                 tensors, dtypes, shapes, parameter count, metadata
//                                            (.safetensors, sharded index, .bin, or a model folder)
//   spt-convert import-hf HF_DIR OUT_DIR     a Hugging Face model folder -> spt checkpoint
//   spt-convert export-hf CHECKPOINT OUT_DIR an spt checkpoint -> Hugging Face folder
//   spt-convert bin-to-safetensors IN OUT    pytorch_model.bin -> .safetensors (same dtypes)
//   spt-convert export-peft CHECKPOINT OUT_DIR   LoRA adapters -> a PEFT adapter folder
//   spt-convert import-peft PEFT_DIR OUT_DIR --base HF_DIR   PEFT adapter + base -> spt checkpoint
//   spt-convert merge-lora CHECKPOINT OUT_DIR    adapters folded in -> a plain Hugging Face folder
//   spt-convert import-gguf FILE OUT_DIR     a LLaMA GGUF file -> Hugging Face folder (f32 weights,
//                                            tokenizer.json, tokenizer_config.json with the chat template)
//
// Exit status 0 on success, 1 with a message on any error (malformed input included).
#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <filesystem>
#include <set>

#include "spt/core/error.h"
#include "spt/io/checkpoint.h"
#include "spt/io/gguf_import.h"
#include "spt/io/json_util.h"
#include "spt/io/safetensors.h"
#include "spt/io/tensor_reader.h"
#include "spt/model/peft.h"

using namespace spt;
using namespace spt::io;
namespace fs = std::filesystem;

namespace {

// 22713216 -> "22,713,216"
std::string grouped(int64_t v) {
  const std::string digits = std::to_string(v < 0 ? -v : v);
  std::string s = v < 0 ? "-" : "";
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) s += ',';
    s += digits[i];
  }
  return s;
}

// Buffers that checkpoints carry but that are not trained parameters.
bool is_buffer(const TensorInfo& t) {
  auto ends = [&](const char* suf) {
    const std::string s(suf);
    return t.name.size() >= s.size() && t.name.compare(t.name.size() - s.size(), s.size(), s) == 0;
  };
  return !stored_is_floating(t.dtype) || ends(".attn.bias") || ends(".attn.masked_bias") ||
         ends("position_ids") || ends("token_type_ids") || ends("rotary_emb.inv_freq");
}

void list_names(const char* what, const std::vector<std::string>& names) {
  if (names.empty()) return;
  std::printf("  %s (%zu):", what, names.size());
  for (size_t i = 0; i < names.size() && i < 8; ++i) std::printf(" %s", names[i].c_str());
  std::printf(names.size() > 8 ? " ...\n" : "\n");
}

void inspect(const std::string& path) {
  const auto r = open_tensors(path);
  std::printf("file:     %s\nformat:   %s\n", r->path().c_str(), r->format().c_str());
  for (const auto& [k, v] : r->metadata()) std::printf("metadata: %s = %s\n", k.c_str(), v.c_str());
  size_t width = 4;
  for (const TensorInfo& t : r->tensors()) width = std::max(width, t.name.size());
  std::printf("\n%-*s  %-7s  %-18s  %s\n", static_cast<int>(width), "name", "dtype", "shape", "numel");
  int64_t total = 0, params = 0;
  for (const TensorInfo& t : r->tensors()) {
    std::printf("%-*s  %-7s  %-18s  %s\n", static_cast<int>(width), t.name.c_str(),
                stored_dtype_name(t.dtype), shape_str(t.shape).c_str(), grouped(t.numel()).c_str());
    total += t.numel();
    if (!is_buffer(t)) params += t.numel();
  }
  std::printf("\ntensors:    %zu\nelements:   %s\nparameters: %s (floating-point tensors; buffers "
              "such as position_ids excluded)\n",
              r->tensors().size(), grouped(total).c_str(), grouped(params).c_str());

  // A model folder: check the weights against config.json as spt would load them.
  const fs::path dir = fs::is_directory(path) ? fs::path(path) : fs::path(path).parent_path();
  if (!fs::is_regular_file(dir / "config.json")) return;
  const std::string cfg_path = (dir / "config.json").string();
  const auto type = get_string(read_json_file(cfg_path, "config"), "model_type", "[config] " + cfg_path);
  if (!type || (*type != "bert" && *type != "gpt2" && *type != "llama")) {
    std::printf("\nconfig:     %s (model_type %s: not a model spt loads; supported: %s)\n",
                cfg_path.c_str(), type.value_or("missing").c_str(), supported_model_types().c_str());
    return;
  }
  const ModelConfig c = load_model_config(dir.string());
  std::printf("\nconfig:     %s (model_type %s", c.source.c_str(), c.model_type.c_str());
  for (const std::string& a : c.architectures) std::printf(", %s", a.c_str());
  std::printf(")\n");
  const ModelHead head = head_from_architectures(c);
  const LoadedWeights w = load_weights(c, *r, head);
  const int64_t n = count_params(param_specs(c, head));
  std::printf("spt model:  %s, head %s: %s parameters, %zu tensors mapped%s\n", family_name(c.family),
              head_name(head), grouped(n).c_str(), w.params.size(),
              w.newly_initialized.empty() ? " (all present)" : "");
  list_names("newly initialised", w.newly_initialized);
  list_names("ignored", w.ignored);
  list_names("unused", w.unused);
}

void import_hf(const std::string& hf_dir, const std::string& out, const std::string& head_opt) {
  CheckpointData d;
  d.config = load_model_config(hf_dir);
  d.head = head_opt.empty() ? head_from_architectures(d.config) : head_from_name(head_opt);
  const auto r = open_tensors(hf_dir);
  LoadedWeights w = load_weights(d.config, *r, d.head);
  SPT_CHECK(w.newly_initialized.empty(), "[import] ", hf_dir, " lacks ",
            w.newly_initialized.size(), " head parameters (", w.newly_initialized.front(),
            ", ...); hint: spt-convert does not initialise weights; import with --head none or "
            "the checkpoint's own head");
  for (const std::string& n : w.unused) spdlog::warn("unused checkpoint tensor {}", n);
  d.params = std::move(w.params);
  d.tokenizer_dir = hf_dir;
  save_checkpoint(out, d);
  spdlog::info("wrote spt checkpoint {} ({} parameters, head {})", out, d.params.size(),
               head_name(d.head));
}

void bin_to_safetensors(const std::string& in, const std::string& out) {
  const auto r = open_tensors(in);
  std::vector<std::vector<unsigned char>> bufs;
  std::vector<SafetensorsEntry> entries;
  bufs.reserve(r->tensors().size());
  for (const TensorInfo& t : r->tensors()) {
    bufs.push_back(r->raw(t.name));
    entries.push_back({t.name, t.dtype, t.shape, bufs.back().data()});
  }
  std::map<std::string, std::string> meta = r->metadata();
  meta["format"] = "pt";
  write_safetensors(out, std::move(entries), meta);
  spdlog::info("wrote {} ({} tensors)", out, bufs.size());
}

}  // namespace

int main(int argc, char** argv) {
  // Logs and errors go to stderr; stdout carries only the inspect listing.
  spdlog::set_default_logger(spdlog::stderr_color_mt("spt-convert"));
  spdlog::set_pattern("[%l] %v");
  CLI::App app{"spt-convert: inspect and convert model checkpoints"};
  app.require_subcommand(1);
  std::string path, in, out, head;
  auto* ins = app.add_subcommand("inspect", "list tensors, dtypes, shapes, parameter count, metadata");
  ins->add_option("PATH", path, "a .safetensors / .bin / .gguf / *.index.json file or a model folder")->required();
  auto* imp = app.add_subcommand("import-hf", "Hugging Face model folder -> spt checkpoint");
  imp->add_option("HF_DIR", in, "model folder (config.json + weights)")->required();
  imp->add_option("OUT_DIR", out, "spt checkpoint folder to write")->required();
  imp->add_option("--head", head, "none | classification | causal_lm (default: from architectures)");
  auto* exp = app.add_subcommand("export-hf", "spt checkpoint -> Hugging Face folder");
  exp->add_option("CHECKPOINT", in, "spt checkpoint folder")->required();
  exp->add_option("OUT_DIR", out, "folder to write (new, empty, or an earlier export)")->required();
  std::string base;
  auto* xp = app.add_subcommand("export-peft", "spt LoRA checkpoint -> PEFT adapter folder");
  xp->add_option("CHECKPOINT", in, "spt checkpoint trained with the lora section")->required();
  xp->add_option("OUT_DIR", out, "adapter folder to write (new or empty)")->required();
  auto* ip = app.add_subcommand("import-peft", "PEFT LoRA adapter + base model -> spt checkpoint");
  ip->add_option("PEFT_DIR", in, "adapter folder (adapter_config.json, adapter_model.safetensors)")->required();
  ip->add_option("OUT_DIR", out, "spt checkpoint folder to write")->required();
  ip->add_option("--base", base, "the Hugging Face base model folder (default: the adapter's "
                 "base_model_name_or_path when it is a local folder)");
  auto* ml = app.add_subcommand("merge-lora", "spt LoRA checkpoint -> Hugging Face folder with merged weights");
  ml->add_option("CHECKPOINT", in, "spt checkpoint trained with the lora section")->required();
  ml->add_option("OUT_DIR", out, "folder to write (new or empty)")->required();
  auto* gg = app.add_subcommand("import-gguf", "LLaMA-architecture GGUF file -> Hugging Face folder");
  gg->add_option("FILE", in, "a .gguf file (llama.cpp)")->required();
  gg->add_option("OUT_DIR", out, "folder to write (new or empty)")->required();
  auto* b2s = app.add_subcommand("bin-to-safetensors", "pytorch_model.bin -> .safetensors");
  b2s->add_option("IN", in, "torch.save file")->required();
  b2s->add_option("OUT", out, "safetensors file to write")->required();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    if (*ins) inspect(path);
    if (*imp) import_hf(in, out, head);
    if (*exp) {
      for (const std::string& note : export_hf(in, out)) spdlog::warn("left out: {}", note);
      spdlog::info("wrote Hugging Face folder {}", out);
    }
    if (*xp) {
      model::export_peft(in, out);
      spdlog::info("wrote PEFT adapter {} (load: PeftModel.from_pretrained(base_model, \"{}\"))", out, out);
    }
    if (*ip) {
      if (base.empty()) {
        const Json c = read_json_file((fs::path(in) / "adapter_config.json").string(), "peft");
        base = c.value("base_model_name_or_path", Json()).is_string() ? c["base_model_name_or_path"].get<std::string>() : "";
        SPT_CHECK(!base.empty() && fs::is_directory(base), "[import-peft] ", in, ": give the base model folder "
                  "with --base (the adapter names ", base.empty() ? "none" : "\"" + base + "\", not a local folder", ")");
      }
      model::import_peft(in, base, out);
      spdlog::info("wrote spt checkpoint {} (base {}, adapter {})", out, base, in);
    }
    if (*ml) {
      model::merge_lora_checkpoint(in, out);
      spdlog::info("wrote Hugging Face folder {} with the LoRA adapters merged", out);
    }
    if (*b2s) bin_to_safetensors(in, out);
    if (*gg) {
      import_gguf(in, out);
      spdlog::info("wrote Hugging Face folder {} (LlamaForCausalLM, f32) from {}", out, in);
    }
  } catch (const spt::Error& e) {
    spdlog::error("{}", e.what());
    return 1;
  }
  return 0;
}
