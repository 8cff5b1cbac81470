// TensorReader: the tensors of one checkpoint, whatever its format.
//
// Implementations: a safetensors file (safetensors.h), a sharded safetensors
// checkpoint (model.safetensors.index.json), a torch.save zip
// (pytorch_model.bin, torch_bin.h), a GGUF file (gguf.h; its tensors
// dequantised to F32). All validate the file completely when
// opened; load() then converts one tensor into a runtime Tensor on the CPU.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "spt/core/tensor.h"
#include "spt/io/stored_dtype.h"

namespace spt::io {

struct TensorInfo {
  std::string name;
  StoredDType dtype = StoredDType::F32;
  Shape shape;
  size_t slot = 0;  // implementation-defined (file index, record index)
  int64_t numel() const { return shape_numel(shape); }
  uint64_t nbytes() const { return static_cast<uint64_t>(numel()) * stored_dtype_size(dtype); }
};

class TensorReader {
 public:
  virtual ~TensorReader() = default;

  // Tensors in file order.
  const std::vector<TensorInfo>& tensors() const { return infos_; }
  const TensorInfo* find(const std::string& name) const;
  // Throws naming the file when the tensor is absent.
  const TensorInfo& info(const std::string& name) const;
  // Loads `name` as a contiguous CPU tensor of `dtype` (default: the file's own
  // dtype; an error for file dtypes the runtime lacks, e.g. U8 -> pass i64).
  Tensor load(const std::string& name, std::optional<DType> dtype = std::nullopt) const;
  // The tensor's bytes exactly as stored (contiguous, little-endian), for
  // copying between formats without conversion.
  std::vector<unsigned char> raw(const std::string& name) const;
  // String metadata (safetensors "__metadata__"; shard index "metadata").
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const std::string& path() const { return path_; }
  // "safetensors", "sharded safetensors (2 files)", "torch zip (pytorch_model.bin)"
  virtual std::string format() const = 0;

 protected:
  explicit TensorReader(std::string path) : path_(std::move(path)) {}
  // Appends a tensor; throws on a duplicate name.
  void add(TensorInfo info, const std::string& component);
  // The contiguous element bytes of `t` (nbytes() long): a pointer into the
  // mapping, or into `scratch` when the bytes had to be gathered.
  virtual const unsigned char* bytes(const TensorInfo& t,
                                     std::vector<unsigned char>& scratch) const = 0;
  // bytes() of another reader (for readers composed of readers, e.g. shards).
  static const unsigned char* shard_bytes(const TensorReader& r, const TensorInfo& t,
                                          std::vector<unsigned char>& scratch) {
    return r.bytes(t, scratch);
  }

  std::string path_;
  std::map<std::string, std::string> metadata_;

 private:
  std::vector<TensorInfo> infos_;
  std::unordered_map<std::string, size_t> index_;
};

// Opens a checkpoint file (.safetensors, .bin / .pt torch zip, .gguf, or a
// *.index.json shard index) or a folder holding model.safetensors,
// model.safetensors.index.json, pytorch_model.bin or pytorch_model.bin.index.json
// (in that order of preference).
std::unique_ptr<TensorReader> open_tensors(const std::string& path);

// The file open_tensors() would read inside folder `dir` ("" when none).
std::string find_weights_file(const std::string& dir);

}  // namespace spt::io
