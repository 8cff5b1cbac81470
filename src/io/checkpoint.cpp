// spt checkpoint save / load / Hugging Face export (see checkpoint.h and
// docs/checkpoint-format.md).
#include "spt/io/checkpoint.h"

#include <filesystem>
#include <map>
#include <set>

#include "spt/core/error.h"
#include "spt/io/atomic_dir.h"
#include "spt/io/atomic_file.h"
#include "spt/io/checksum.h"
#include "spt/io/safetensors.h"

namespace spt::io {

namespace fs = std::filesystem;

namespace {

using OJson = nlohmann::ordered_json;

// transformers refuses safetensors files whose metadata lacks format "pt".
const std::map<std::string, std::string> kHfMetadata = {{"format", "pt"}};
const char* const kSptTensorsFile = "spt_tensors.safetensors";

// The HF config as written: the original keys (spt-only keys dropped), the
// architecture of `head`, id2label for classifiers, and optionally "spt".
OJson hf_config_json(const ModelConfig& c, ModelHead head, const Json* spt) {
  OJson out = OJson::parse(c.raw.dump());
  out.erase("spt");
  out["architectures"] = {hf_architecture(c, head)};
  if (head == ModelHead::sequence_classification && !out.contains("id2label")) {
    OJson id2label = OJson::object(), label2id = OJson::object();
    for (int64_t i = 0; i < c.num_labels; ++i) {
      id2label[std::to_string(i)] = "LABEL_" + std::to_string(i);
      label2id["LABEL_" + std::to_string(i)] = i;
    }
    out["id2label"] = id2label;
    out["label2id"] = label2id;
  }
  if (spt) out["spt"] = OJson::parse(spt->dump());
  return out;
}

void copy_tokenizer(const std::string& from, const std::string& to) {
  if (from.empty()) return;
  for (const std::string& f : tokenizer_files()) {
    const fs::path src = fs::path(from) / f;
    if (fs::is_regular_file(src)) write_file_atomic((fs::path(to) / f).string(), read_file(src.string(), "checkpoint"));
  }
}

// The completion marker: format, version, and the size and CRC-32C of every
// file ("files": name -> bytes, as version 1 always had; "crc32c": name -> hex,
// added later, checked when present).
void write_marker(const std::string& dir) {
  OJson files = OJson::object(), crcs = OJson::object();
  std::vector<fs::path> paths;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file()) paths.push_back(e.path());
  std::sort(paths.begin(), paths.end());
  for (const fs::path& p : paths) {
    const std::string name = fs::relative(p, dir).generic_string();
    files[name] = static_cast<uint64_t>(fs::file_size(p));
    crcs[name] = crc_hex(file_crc32c(p.string()));
  }
  OJson m;
  m["format"] = "spt-checkpoint";
  m["version"] = kCheckpointVersion;
  m["files"] = files;
  m["crc32c"] = crcs;
  write_json_file((fs::path(dir) / kCheckpointMarker).string(), m);
}

// What is wrong with the checkpoint at `dir` ("" when it is complete and every
// file has the size and checksum its marker recorded).
std::string marker_problem(const std::string& dir) {
  const std::string marker = (fs::path(dir) / kCheckpointMarker).string();
  if (!fs::is_regular_file(marker))
    return str_cat(dir, " has no ", kCheckpointMarker, ", so it is not a complete spt checkpoint (an interrupted "
                   "save leaves none); hint: use the previous checkpoint, or load a Hugging Face folder as a "
                   "pretrained model");
  Json m;
  try {
    m = read_json_file(marker, "checkpoint");
  } catch (const Error& e) {
    return str_cat(e.what(), " (the completion marker is damaged)");
  }
  if (!(m.is_object() && m.value("format", "") == "spt-checkpoint" && m.contains("files") &&
        m["files"].is_object()))
    return str_cat(marker, " is not an spt checkpoint marker");
  if (!m.contains("version") || !m["version"].is_number_integer())
    return str_cat(marker, ": \"version\" must be an integer");
  const int64_t version = m["version"].get<int64_t>();
  if (version > kCheckpointVersion)
    return str_cat(marker, ": version ", version, " is newer than this spt (", kCheckpointVersion,
                   "); hint: update spt");
  const Json crcs = m.contains("crc32c") && m["crc32c"].is_object() ? m["crc32c"] : Json::object();
  for (const auto& [name, size] : m["files"].items()) {
    const fs::path p = fs::path(dir) / name;
    std::error_code ec;
    const auto actual = fs::file_size(p, ec);
    if (ec) return str_cat(p.string(), " is missing; hint: the checkpoint was modified or damaged after saving");
    if (!size.is_number_unsigned() || actual != size.get<uint64_t>())
      return str_cat(p.string(), " has ", actual, " bytes, the marker recorded ", size.dump(),
                     " (truncated or modified after saving); hint: use an earlier checkpoint");
    if (crcs.contains(name)) {
      const std::string want = crcs[name].is_string() ? crcs[name].get<std::string>() : "?";
      const std::string got = crc_hex(file_crc32c(p.string()));
      if (got != want)
        return str_cat(p.string(), " has CRC-32C ", got, ", the marker recorded ", want,
                       " (its bytes changed after saving: a damaged disk or copy); hint: use an earlier checkpoint");
    }
  }
  return "";
}

void check_marker(const std::string& dir) {
  const std::string problem = checkpoint_problem(dir);
  SPT_CHECK(problem.empty(), "[checkpoint] ", problem);
}

// An existing folder save_checkpoint may replace: a checkpoint of ours, complete
// or not (its config.json carries the "spt" object).
bool replaceable_checkpoint(const std::string& dir) {
  if (is_spt_checkpoint(dir)) return true;
  const fs::path cfg = fs::path(dir) / "config.json";
  if (!fs::is_regular_file(cfg)) return false;
  const Json j = Json::parse(read_file(cfg.string(), "checkpoint"), nullptr, false);
  return j.is_object() && j.contains("spt") && j["spt"].is_object() &&
         j["spt"].contains("format_version");
}

DType file_float_dtype(const TensorReader& r) {
  for (const TensorInfo& t : r.tensors())
    if (stored_is_floating(t.dtype)) return *runtime_dtype_of(t.dtype);
  return DType::f32;
}

}  // namespace

const std::vector<std::string>& tokenizer_files() {
  static const std::vector<std::string> files = {
      "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
      "vocab.txt", "vocab.json", "merges.txt", "tokenizer.model", "spiece.model",
      "generation_config.json"};
  return files;
}

std::string checkpoint_problem(const std::string& dir) {
  try {
    return marker_problem(dir);
  } catch (const std::exception& e) {  // an unreadable file, a marker of the wrong shape
    return str_cat(dir, ": ", e.what());
  }
}

bool is_spt_checkpoint(const std::string& dir) {
  return fs::is_regular_file(fs::path(dir) / kCheckpointMarker);
}

std::string spt_tensor_kind(const std::string& name) {
  for (const char* s : {".lora_A", ".lora_B"}) {
    const std::string suffix(s);
    if (name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0)
      return "LoRA adapter";
  }
  for (const char* s : {".pq_codebooks", ".pq_counts"}) {
    const std::string suffix(s);
    if (name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0)
      return "PQ codebooks";
  }
  for (const char* s : {".ffn.router.weight", ".ffn.router.bias"}) {
    const std::string suffix(s);
    if (name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0)
      return "FFN router";
  }
  return "";
}

void save_checkpoint(const std::string& dir, const CheckpointData& d) {
  // Every tensor is placed before touching disk: in the HF file (checked against
  // the model's table), in spt's own file, or refused; never silently dropped.
  std::set<std::string> hf_names;
  for (const ParamMapping& m : param_mappings(d.config, d.head)) hf_names.insert(m.spec.name);
  std::vector<std::pair<std::string, Tensor>> hf_params, own;
  std::vector<std::string> unplaced;
  for (const auto& [name, t] : d.params) {
    if (hf_names.count(name)) hf_params.emplace_back(name, t);
    else if (!spt_tensor_kind(name).empty()) own.emplace_back(name, t);
    else unplaced.push_back(name);
  }
  if (!unplaced.empty()) {
    std::string list;
    for (size_t i = 0; i < unplaced.size() && i < 8; ++i) list += (i ? ", " : "") + unplaced[i];
    fail("[checkpoint] cannot save ", dir, ": ", unplaced.size(), " tensor(s) have no place in a checkpoint "
         "of this ", family_name(d.config.family), " model (neither a Hugging Face parameter nor a kind spt "
         "stores itself): ", list, "; hint: this is a bug in the code that added them; nothing was written");
  }
  const auto hf = to_hf_tensors(d.config, d.head, hf_params);
  AtomicDir out(dir, "checkpoint", replaceable_checkpoint);
  const fs::path tmp = out.path();
  Json spt = d.spt.is_null() ? Json::object() : d.spt;
  spt["format_version"] = kCheckpointVersion;
  spt["head"] = head_name(d.head);
  write_json_file((tmp / "config.json").string(), hf_config_json(d.config, d.head, &spt));
  write_safetensors((tmp / "model.safetensors").string(), hf, kHfMetadata);
  if (!own.empty())
    write_safetensors((tmp / kSptTensorsFile).string(), own, {{"format", "spt"}});
  copy_tokenizer(d.tokenizer_dir, tmp.string());
  fs::create_directory(tmp / "trainer_state");
  if (!d.trainer_state.is_null())
    write_json_file((tmp / "trainer_state" / "state.json").string(),
                    nlohmann::ordered_json::parse(d.trainer_state.dump()));
  if (!d.trainer_tensors.empty())
    write_safetensors((tmp / "trainer_state" / "tensors.safetensors").string(), d.trainer_tensors);
  write_marker(tmp.string());  // last: its presence means everything above is complete
  out.commit();
}

LoadedCheckpoint load_checkpoint(const std::string& dir, DType dtype) {
  check_marker(dir);
  LoadedCheckpoint c;
  c.config = load_model_config(dir);
  const std::string ctx = "[checkpoint] " + c.config.source;
  c.spt = c.config.raw.contains("spt") ? c.config.raw["spt"] : Json::object();
  SPT_CHECK(c.spt.is_object(), ctx, ": \"spt\" must be an object");
  const auto head = get_string(c.spt, "head", ctx + " spt");
  c.head = head ? head_from_name(*head) : head_from_architectures(c.config);
  SafetensorsReader weights((fs::path(dir) / "model.safetensors").string());
  c.weights = load_weights(c.config, weights, c.head, dtype);
  if (fs::is_regular_file(fs::path(dir) / kSptTensorsFile)) {
    const SafetensorsReader own((fs::path(dir) / kSptTensorsFile).string());
    for (const TensorInfo& t : own.tensors()) {
      SPT_CHECK(!spt_tensor_kind(t.name).empty(), "[checkpoint] ", dir, "/", kSptTensorsFile, ": tensor '",
                t.name, "' is of no kind this spt knows; hint: the checkpoint was written by a newer spt");
      c.spt_tensors.emplace_back(t.name, own.load(t.name, dtype));
    }
  }
  const fs::path ts = fs::path(dir) / "trainer_state";
  if (fs::is_regular_file(ts / "state.json"))
    c.trainer_state = read_json_file((ts / "state.json").string(), "checkpoint");
  if (fs::is_regular_file(ts / "tensors.safetensors"))
    c.trainer_tensors_path = (ts / "tensors.safetensors").string();
  return c;
}

void write_hf_folder(const std::string& out_dir, const ModelConfig& config, ModelHead head,
                     const std::vector<std::pair<std::string, Tensor>>& params, const std::string& tokenizer_dir) {
  const auto hf = to_hf_tensors(config, head, params);  // checks every name first
  // Never replaces a non-empty folder: it could be the model the checkpoint came from.
  AtomicDir out(out_dir, "export", [](const std::string&) { return false; });
  const fs::path tmp = out.path();
  write_json_file((tmp / "config.json").string(), hf_config_json(config, head, nullptr));
  write_safetensors((tmp / "model.safetensors").string(), hf, kHfMetadata);
  copy_tokenizer(tokenizer_dir, tmp.string());
  out.commit();
}

std::string mean_pooling_note() {
  return "the model was trained with mean pooling (model.pooling = mean): transformers' "
         "BertForSequenceClassification reads the pooler on the first token instead, so its predictions differ; "
         "load the encoder with sentence-transformers' mean pooling and apply classifier.weight / classifier.bias "
         "to the pooled vector, or predict with spt-predict";
}

std::vector<std::string> export_hf(const std::string& checkpoint_dir, const std::string& out_dir) {
  check_marker(checkpoint_dir);
  const ModelConfig config = load_model_config(checkpoint_dir);
  const Json spt = config.raw.contains("spt") ? config.raw["spt"] : Json::object();
  const auto head_s = get_string(spt, "head", "[checkpoint] " + config.source + " spt");
  const ModelHead head = head_s ? head_from_name(*head_s) : head_from_architectures(config);
  SafetensorsReader reader((fs::path(checkpoint_dir) / "model.safetensors").string());
  // Through spt's names and back: the export holds exactly the model's
  // parameters, in the checkpoint's own dtype.
  const LoadedWeights w = load_weights(config, reader, head, file_float_dtype(reader));
  SPT_CHECK(w.newly_initialized.empty(), "[export] ", checkpoint_dir, " lacks ",
            w.newly_initialized.front(), "; hint: the checkpoint is incomplete");
  write_hf_folder(out_dir, config, head, w.params, checkpoint_dir);
  // What the Hugging Face folder cannot hold, by kind.
  std::vector<std::string> left_out;
  if (spt.value("pooling", std::string("cls")) == "mean")
    left_out.push_back(mean_pooling_note());
  if (fs::is_regular_file(fs::path(checkpoint_dir) / kSptTensorsFile)) {
    std::map<std::string, std::vector<std::string>> by_kind;
    const SafetensorsReader own((fs::path(checkpoint_dir) / kSptTensorsFile).string());
    for (const TensorInfo& t : own.tensors()) by_kind[spt_tensor_kind(t.name)].push_back(t.name);
    for (const auto& [kind, names] : by_kind) {
      std::string line = std::to_string(names.size()) + " " + (kind.empty() ? "unknown" : kind) +
                         " tensor(s) (" + names.front() + (names.size() > 1 ? ", ..." : "") +
                         "): a Hugging Face model has no place for them";
      if (kind == "LoRA adapter")
        line += "; the exported weights are the base model's without the adapters. Use `spt-convert "
                "merge-lora` for a model with the adapters folded in, or `spt-convert export-peft` for a "
                "PEFT adapter";
      if (kind == "PQ codebooks")
        line += "; they only steer spt's sparse attention (the exported model runs dense attention "
                "in transformers)";
      if (kind == "FFN router")
        line += "; they only choose the blocks of spt's routed FFN (the exported model runs the dense FFN "
                "in transformers, on the same weights)";
      left_out.push_back(line);
    }
  }
  return left_out;
}

}  // namespace spt::io
