// Hugging Face PEFT LoRA adapters in and out (../shared/docs/formats.md part 1,
// checked against peft 0.21.2): adapter_config.json + adapter_model.safetensors.
//
// File names: "base_model.model." + the module's path in the HF model +
// ".lora_A.weight" / ".lora_B.weight" (A (r, in), B (out, r), also for GPT-2's
// Conv1D); modules_to_save (the classifier) under their plain names; trained
// biases as "<module>.bias", or "<module>.base_layer.bias" for a module that
// carries an adapter. In memory PEFT adds ".default" (and
// ".modules_to_save.default" for saved modules): peft_param_name(..., in_memory).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "spt/io/model_config.h"
#include "spt/io/param_spec.h"
#include "spt/model/lora.h"

namespace spt::model {

struct PeftAdapter {
  LoraOptions options;  // targets resolved to spt module names
  std::vector<std::pair<std::string, Tensor>> tensors;  // spt names: adapters, head, biases
  std::string base_model;  // base_model_name_or_path ("" when null)
};

// Reads a PEFT LoRA adapter folder for a model (cfg, head). Refuses what spt
// does not compute (DoRA, rank/alpha patterns, lora_bias, base-modifying inits,
// other PEFT types) with a clear error; every selected module's A and B must be
// present with matching shapes, and every tensor in the file must be placed.
PeftAdapter read_peft_adapter(const std::string& dir, const io::ModelConfig& cfg, io::ModelHead head);

// The PEFT name of an spt parameter that belongs in an adapter (adapters, the
// head, trained biases), or "" for one that does not.
std::string peft_param_name(const std::string& spt_name, const io::ModelConfig& cfg, io::ModelHead head,
                            const LoraOptions& opts, bool in_memory = false);

// Writes `dir` (created; must not exist or be empty): adapter_config.json and
// adapter_model.safetensors from spt parameters (the trainable ones of a LoRA
// model: adapters, head, biases per opts.bias, modules_to_save).
void write_peft_adapter(const std::string& dir, const io::ModelConfig& cfg, io::ModelHead head,
                        const LoraOptions& opts,
                        const std::vector<std::pair<std::string, Tensor>>& params,
                        const std::string& base_model = "");

// Folds every adapter into its base weight: W += s * B A (in place, spt layout);
// the adapter tensors are dropped from `params`.
void merge_lora(std::vector<std::pair<std::string, Tensor>>& params, const LoraOptions& opts);

}  // namespace spt::model

namespace spt::model {

// spt-convert's LoRA commands (docs/lora.md).
// export-peft: the adapters (and head, trained biases) of an spt LoRA checkpoint
// as a PEFT adapter folder that PeftModel.from_pretrained(base, out_dir) loads.
void export_peft(const std::string& checkpoint_dir, const std::string& out_dir);
// import-peft: a PEFT adapter on a Hugging Face base model folder -> an spt
// checkpoint (base + adapters) that spt-predict runs and training continues from.
// The head (and num_labels) come from the adapter's task type and classifier.
void import_peft(const std::string& peft_dir, const std::string& base_dir, const std::string& out_dir);
// merge-lora: a plain Hugging Face folder with every adapter folded into its
// weight (W + s B A), as PEFT's merge_and_unload() computes it.
void merge_lora_checkpoint(const std::string& checkpoint_dir, const std::string& out_dir);

}  // namespace spt::model
