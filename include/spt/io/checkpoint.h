// The spt checkpoint: a folder Hugging Face can read (docs/checkpoint-format.md).
//
//   <dir>/config.json          the HF config, plus an "spt" object (spt's own settings)
//   <dir>/model.safetensors    weights under HF names and layouts (transformers loads it)
//   <dir>/spt_tensors.safetensors  tensors Hugging Face has no place for (LoRA
//                              adapters; later routers, codebooks), under spt names
//   <dir>/<tokenizer files>    copied (tokenizer.json, vocab.txt, merges.txt, ...)
//   <dir>/trainer_state/       optimizer moments, scheduler, RNG, data position
//   <dir>/spt_checkpoint.json  the completion marker, written last
//
// Saving is atomic (AtomicDir): a crash leaves the previous checkpoint or none,
// never a folder with a marker and missing files; loading requires the marker
// and checks that every file it lists has the recorded size and CRC-32C (a
// file truncated or bit-flipped after saving is named in the error).
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "spt/io/model_config.h"
#include "spt/io/param_spec.h"
#include "spt/io/weight_map.h"

namespace spt::io {

constexpr int kCheckpointVersion = 1;
constexpr const char* kCheckpointMarker = "spt_checkpoint.json";

// Files copied from a model folder besides config.json and the weights.
const std::vector<std::string>& tokenizer_files();

struct CheckpointData {
  ModelConfig config;                                  // its raw JSON is written back
  ModelHead head = ModelHead::none;
  Json spt = Json::object();                           // spt's own settings -> config.json "spt"
  // spt names: those of the HF model (param_specs) go to model.safetensors, spt's
  // own (spt_tensor_kind) to spt_tensors.safetensors; any other name is refused.
  std::vector<std::pair<std::string, Tensor>> params;
  std::string tokenizer_dir;                           // copy tokenizer files from here ("" none)
  // trainer_state/: state.json (scheduler, RNG, data position...) and
  // tensors.safetensors (optimizer moments), written when non-empty.
  Json trainer_state;
  std::vector<std::pair<std::string, Tensor>> trainer_tensors;
};

// Writes `data` as an spt checkpoint at `dir` (replacing an existing spt
// checkpoint, complete or not, or an empty folder; anything else is an error).
void save_checkpoint(const std::string& dir, const CheckpointData& data);

struct LoadedCheckpoint {
  ModelConfig config;
  ModelHead head = ModelHead::none;
  Json spt;
  LoadedWeights weights;
  std::vector<std::pair<std::string, Tensor>> spt_tensors;  // spt_tensors.safetensors (spt names)
  Json trainer_state;                    // null when absent
  std::string trainer_tensors_path;      // "" when absent
};

// Reads an spt checkpoint written by save_checkpoint (marker required).
LoadedCheckpoint load_checkpoint(const std::string& dir, DType dtype = DType::f32);

// "" when `dir` is a complete, intact spt checkpoint; else what is wrong,
// naming the file (no marker, a file missing, truncated or with another
// checksum). Reads every file (CRC-32C).
std::string checkpoint_problem(const std::string& dir);

// True when `dir` holds a complete spt checkpoint marker (cheap: files unchecked).
bool is_spt_checkpoint(const std::string& dir);

// Writes a Hugging Face folder (config.json without "spt", model.safetensors,
// tokenizer files copied from `tokenizer_dir`) from spt-named parameters of the
// HF model; `out_dir` must not exist or be empty.
void write_hf_folder(const std::string& out_dir, const ModelConfig& config, ModelHead head,
                     const std::vector<std::pair<std::string, Tensor>>& params, const std::string& tokenizer_dir);

// What kind of spt-only tensor `name` is ("LoRA adapter" for *.lora_A / *.lora_B,
// "PQ codebooks" for sparse attention's *.pq_codebooks / *.pq_counts),
// or "" when it is not one (then it must be a parameter of the HF model).
std::string spt_tensor_kind(const std::string& name);

// Writes the Hugging Face folder of an spt checkpoint: config.json without the
// "spt" object, model.safetensors (the checkpoint's dtype), tokenizer files.
// `out_dir` must not exist or be empty. Returns one line per kind of tensor left
// out (spt_tensors.safetensors: LoRA adapters ...), saying what and why.
std::vector<std::string> export_hf(const std::string& checkpoint_dir, const std::string& out_dir);
// What an export of a mean-pooled classifier (spt "pooling": "mean") must say:
// transformers pools the first token.
std::string mean_pooling_note();

}  // namespace spt::io
