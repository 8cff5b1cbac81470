// TensorReader basics, open_tensors() (format detection) and ShardedReader.
#include "spt/io/tensor_reader.h"

#include <filesystem>
#include <map>

#include "spt/core/error.h"
#include "spt/io/gguf.h"
#include "spt/io/json_util.h"
#include "spt/io/safetensors.h"
#include "spt/io/sharded.h"
#include "spt/io/torch_bin.h"

namespace spt::io {

namespace fs = std::filesystem;

// ---- TensorReader ----

const TensorInfo* TensorReader::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &infos_[it->second];
}

const TensorInfo& TensorReader::info(const std::string& name) const {
  const TensorInfo* t = find(name);
  SPT_CHECK(t != nullptr, "[checkpoint] ", path_, " has no tensor \"", name,
            "\"; hint: list its tensors with spt-convert inspect");
  return *t;
}

Tensor TensorReader::load(const std::string& name, std::optional<DType> dtype) const {
  const TensorInfo& t = info(name);
  const std::string ctx = "[checkpoint] " + path_ + ": tensor \"" + name + "\"";
  if (!dtype) {
    dtype = runtime_dtype_of(t.dtype);
    SPT_CHECK(dtype.has_value(), ctx, " is ", stored_dtype_name(t.dtype),
              ", which has no runtime dtype; hint: load it with an explicit dtype (i64 for "
              "integers)");
  }
  Tensor out = Tensor::empty(t.shape, *dtype);
  std::vector<unsigned char> scratch;
  convert_into(out, bytes(t, scratch), t.dtype, t.numel(), ctx);
  return out;
}

std::vector<unsigned char> TensorReader::raw(const std::string& name) const {
  const TensorInfo& t = info(name);
  std::vector<unsigned char> scratch;
  const unsigned char* p = bytes(t, scratch);
  if (p == scratch.data()) return scratch;
  return std::vector<unsigned char>(p, p + t.nbytes());
}

void TensorReader::add(TensorInfo info, const std::string& component) {
  SPT_CHECK(index_.emplace(info.name, infos_.size()).second, "[", component, "] ", path_,
            ": tensor \"", info.name, "\" appears twice; hint: the checkpoint is corrupt");
  infos_.push_back(std::move(info));
}

// ---- ShardedReader ----

namespace {

std::unique_ptr<TensorReader> open_file(const std::string& path) {
  const std::string ext = fs::path(path).extension().string();
  if (ext == ".safetensors") return std::make_unique<SafetensorsReader>(path);
  if (ext == ".gguf") return std::make_unique<GgufTensorReader>(path);
  if (ext == ".bin" || ext == ".pt" || ext == ".pth" || looks_like_zip(path))
    return std::make_unique<TorchBinReader>(path);
  return std::make_unique<SafetensorsReader>(path);
}

}  // namespace

ShardedReader::ShardedReader(const std::string& index_path) : TensorReader(index_path) {
  const std::string what = "[checkpoint] " + index_path;
  const Json j = read_json_file(index_path, "checkpoint");
  SPT_CHECK(j.is_object() && j.contains("weight_map") && j["weight_map"].is_object(), what,
            ": a shard index must be an object with a \"weight_map\" object; hint: the file is "
            "not a Hugging Face *.index.json");
  if (j.contains("metadata") && j["metadata"].is_object())
    for (const auto& [k, v] : j["metadata"].items())
      metadata_[k] = v.is_string() ? v.get<std::string>() : v.dump();

  const fs::path dir = fs::path(index_path).parent_path();
  std::map<std::string, size_t> shard_of_file;
  std::vector<std::pair<std::string, std::string>> listed;
  for (const auto& [name, file] : j["weight_map"].items()) {
    SPT_CHECK(file.is_string(), what, ": weight_map[\"", name, "\"] must be a file name, got ",
              json_kind(file), "; hint: fix the index");
    const std::string f = file.get<std::string>();
    SPT_CHECK(!f.empty() && f.find('/') == std::string::npos &&
                  f.find('\\') == std::string::npos && f != "." && f != "..",
              what, ": shard \"", f, "\" must be a plain file name in the index's folder");
    if (!shard_of_file.count(f)) {
      SPT_CHECK(fs::is_regular_file(dir / f), what, ": shard ", (dir / f).string(),
                " is missing; hint: download every shard listed in the index");
      shard_of_file[f] = shards_.size();
      shards_.push_back(open_file((dir / f).string()));
    }
    listed.emplace_back(name, f);
  }
  for (const auto& [name, f] : listed)
    SPT_CHECK(shards_[shard_of_file[f]]->find(name) != nullptr, what, ": weight_map puts \"",
              name, "\" in ", f, ", which does not hold it; hint: the index does not match "
              "the shards");
  for (size_t s = 0; s < shards_.size(); ++s)
    for (const TensorInfo& t : shards_[s]->tensors()) {
      TensorInfo info = t;
      info.slot = where_.size();
      where_.emplace_back(s, &t);
      add(std::move(info), "checkpoint");
    }
}

std::string ShardedReader::format() const {
  return "sharded " + (shards_.empty() ? std::string("safetensors") : shards_[0]->format()) +
         " (" + std::to_string(shards_.size()) + " files)";
}

const unsigned char* ShardedReader::bytes(const TensorInfo& t,
                                          std::vector<unsigned char>& scratch) const {
  const auto& [s, info] = where_[t.slot];
  return shard_bytes(*shards_[s], *info, scratch);
}

// ---- open_tensors ----

std::string find_weights_file(const std::string& dir) {
  for (const char* f : {"model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                        "pytorch_model.bin.index.json"})
    if (fs::is_regular_file(fs::path(dir) / f)) return (fs::path(dir) / f).string();
  return "";
}

std::unique_ptr<TensorReader> open_tensors(const std::string& path) {
  std::error_code ec;
  SPT_CHECK(fs::exists(path, ec), "[checkpoint] ", path, " does not exist; hint: check the path");
  std::string file = path;
  if (fs::is_directory(path, ec)) {
    file = find_weights_file(path);
    SPT_CHECK(!file.empty(), "[checkpoint] ", path,
              " holds no model.safetensors, model.safetensors.index.json, pytorch_model.bin or "
              "pytorch_model.bin.index.json; hint: pass a Hugging Face model folder");
  }
  const std::string name = fs::path(file).filename().string();
  if (name.size() > 11 && name.compare(name.size() - 11, 11, ".index.json") == 0)
    return std::make_unique<ShardedReader>(file);
  return open_file(file);
}

}  // namespace spt::io
