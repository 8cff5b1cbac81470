// spt-convert's LoRA commands: spt checkpoint <-> PEFT adapter, and merging
// (see include/spt/model/peft.h).
#include <spdlog/spdlog.h>

#include <filesystem>

#include "spt/core/error.h"
#include "spt/io/checkpoint.h"
#include "spt/io/safetensors.h"
#include "spt/io/weight_map.h"
#include "spt/model/options.h"
#include "spt/model/peft.h"

namespace spt::model {

namespace fs = std::filesystem;

namespace {

struct LoraCheckpoint {
  io::LoadedCheckpoint lc;
  LoraOptions lora;
  std::vector<std::pair<std::string, Tensor>> params;  // base + adapters, spt names
};

LoraCheckpoint load_lora_checkpoint(const std::string& dir, const char* command) {
  LoraCheckpoint c;
  c.lc = io::load_checkpoint(dir);
  c.lora = ModelOptions::from_json(c.lc.spt, "[" + std::string(command) + "] " + dir).lora;
  SPT_CHECK(c.lora.enabled, "[", command, "] ", dir, " has no LoRA adapters (it was not trained with the lora "
            "section); hint: use `spt-convert export-hf` for a fully fine-tuned model");
  c.params = c.lc.weights.params;
  for (const auto& t : c.lc.spt_tensors) c.params.push_back(t);
  return c;
}

// The head a PEFT adapter implies, and for SEQ_CLS the number of labels (from
// its classifier's rows).
io::ModelHead adapter_head(const std::string& peft_dir, io::ModelConfig& cfg) {
  const io::Json c = io::read_json_file((fs::path(peft_dir) / "adapter_config.json").string(), "peft");
  const std::string task = c.value("task_type", io::Json()).is_string() ? c["task_type"].get<std::string>() : "";
  if (task == "CAUSAL_LM") return io::ModelHead::causal_lm;
  if (task == "SEQ_CLS") {
    const io::SafetensorsReader r((fs::path(peft_dir) / "adapter_model.safetensors").string());
    for (const char* name : {"base_model.model.classifier.weight", "base_model.model.score.weight"})
      if (const io::TensorInfo* t = r.find(name)) cfg.num_labels = t->shape[0];
    return io::ModelHead::sequence_classification;
  }
  SPT_CHECK(task.empty() || task == "FEATURE_EXTRACTION", "[import-peft] ", peft_dir, ": task_type ", task,
            " is not one spt trains (SEQ_CLS, CAUSAL_LM)");
  return io::head_from_architectures(cfg);
}

}  // namespace

void export_peft(const std::string& checkpoint_dir, const std::string& out_dir) {
  const LoraCheckpoint c = load_lora_checkpoint(checkpoint_dir, "export-peft");
  const std::string base = c.lc.spt.value("base_model", std::string());
  if (c.lc.spt.value("pooling", std::string("cls")) == "mean") spdlog::warn("[export-peft] {}", io::mean_pooling_note());
  write_peft_adapter(out_dir, c.lc.config, c.lc.head, c.lora, c.params, base);
}

void import_peft(const std::string& peft_dir, const std::string& base_dir, const std::string& out_dir) {
  io::ModelConfig cfg = io::load_model_config(base_dir);
  const io::ModelHead head = adapter_head(peft_dir, cfg);
  const PeftAdapter ad = read_peft_adapter(peft_dir, cfg, head);
  const auto reader = io::open_tensors(base_dir);
  io::LoadedWeights w = io::load_weights(cfg, *reader, head);
  // The adapter's tensors (adapters, the head, trained biases) replace the base's.
  std::map<std::string, Tensor> from_adapter(ad.tensors.begin(), ad.tensors.end());
  for (const std::string& n : w.newly_initialized)
    SPT_CHECK(from_adapter.count(n), "[import-peft] neither ", base_dir, " nor the adapter holds ", n);
  io::CheckpointData d;
  d.config = cfg;
  d.head = head;
  if (head == io::ModelHead::sequence_classification) {
    d.config.raw["num_labels"] = cfg.num_labels;
    if (d.config.raw.contains("id2label") && static_cast<int64_t>(d.config.raw["id2label"].size()) != cfg.num_labels) {
      d.config.raw.erase("id2label");  // the base's labels do not fit the adapter's head
      d.config.raw.erase("label2id");
    }
  }
  d.spt = {{"base_model", base_dir}, {"imported_from", peft_dir}};
  ModelOptions opts;
  opts.lora = ad.options;
  opts.write_json(d.spt);
  for (auto& [name, t] : w.params) {
    const auto it = from_adapter.find(name);
    d.params.emplace_back(name, it != from_adapter.end() ? it->second : t);
    if (it != from_adapter.end()) from_adapter.erase(it);
  }
  for (const auto& [name, t] : from_adapter) d.params.emplace_back(name, t);
  d.tokenizer_dir = base_dir;
  io::save_checkpoint(out_dir, d);
}

void merge_lora_checkpoint(const std::string& checkpoint_dir, const std::string& out_dir) {
  LoraCheckpoint c = load_lora_checkpoint(checkpoint_dir, "merge-lora");
  merge_lora(c.params, c.lora);
  if (c.lc.spt.value("pooling", std::string("cls")) == "mean") spdlog::warn("[merge-lora] {}", io::mean_pooling_note());
  io::write_hf_folder(out_dir, c.lc.config, c.lc.head, c.params, checkpoint_dir);
}

}  // namespace spt::model
