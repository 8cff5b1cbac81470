// safetensors reading (memory-mapped, fully validated) and atomic writing.
//
// Layout (https://huggingface.co/docs/safetensors): 8 bytes little-endian u64 N,
// N bytes of UTF-8 JSON (an object: tensor name -> {"dtype", "shape",
// "data_offsets": [begin, end]} relative to the data region, plus an optional
// "__metadata__" string -> string object), then the data region. As the
// official library requires, the tensors' byte ranges, sorted, tile the data
// region exactly: first begins at 0, each begins where the previous ended, the
// last ends at the end of the file; end - begin = numel * dtype size.
// spt additionally rejects duplicate names (JSON readers keep one silently).
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "spt/io/mapped_file.h"
#include "spt/io/tensor_reader.h"

namespace spt::io {

// Official limit on the header length (safetensors MAX_HEADER_SIZE).
constexpr uint64_t kMaxSafetensorsHeader = 100'000'000;

struct SafetensorsHeader {
  std::vector<TensorInfo> tensors;        // in data order
  std::vector<uint64_t> begin;            // data-region offset of tensors[i]
  std::map<std::string, std::string> metadata;
  uint64_t header_len = 0;                // N
};

// Validates the whole layout of a safetensors file held in `buf` (`what` names
// it in errors) and returns its header. Never reads past `size`.
SafetensorsHeader parse_safetensors(const unsigned char* buf, size_t size, const std::string& what);

class SafetensorsReader final : public TensorReader {
 public:
  explicit SafetensorsReader(const std::string& path);
  std::string format() const override { return "safetensors"; }
  uint64_t header_len() const { return header_len_; }

 private:
  const unsigned char* bytes(const TensorInfo& t, std::vector<unsigned char>& scratch) const override;

  MappedFile file_;
  std::vector<uint64_t> begin_;  // absolute file offset, by slot
  uint64_t header_len_ = 0;
};

// One tensor to write: `data` holds numel(shape) * size(dtype) bytes.
struct SafetensorsEntry {
  std::string name;
  StoredDType dtype = StoredDType::F32;
  Shape shape;
  const void* data = nullptr;
};

// Writes a safetensors file atomically (temp file, fsync, rename, directory
// fsync), laid out as the official writer does: tensors ordered by dtype
// (largest first) then name, "__metadata__" first in the header, the header
// padded with spaces to a multiple of 8 bytes.
void write_safetensors(const std::string& path, std::vector<SafetensorsEntry> entries,
                       const std::map<std::string, std::string>& metadata = {});
// Convenience: runtime tensors (any device; copied to the host as needed).
void write_safetensors(const std::string& path,
                       const std::vector<std::pair<std::string, Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace spt::io
