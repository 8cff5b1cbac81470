// Reading legacy PyTorch checkpoints (pytorch_model.bin) without Python.
//
// torch.save(state_dict, path) writes a zip archive: "<stem>/data.pkl" (a
// pickle of the dict, tensors as _rebuild_tensor_v2 calls on persistent
// storage ids), "<stem>/data/<key>" (raw little-endian storage bytes) and
// "<stem>/byteorder". spt parses that subset itself (zip_reader, pickle) and
// rejects anything else, in particular pickles naming other Python callables
// (which torch.load would run). The pre-1.6 non-zip format is not read.
#pragma once

#include <string>
#include <vector>

#include "spt/io/mapped_file.h"
#include "spt/io/tensor_reader.h"

namespace spt::io {

class TorchBinReader final : public TensorReader {
 public:
  explicit TorchBinReader(const std::string& path);
  std::string format() const override { return "torch zip (torch.save)"; }

 private:
  const unsigned char* bytes(const TensorInfo& t, std::vector<unsigned char>& scratch) const override;

  struct View {
    uint64_t storage_at = 0;  // absolute file offset of the storage's first byte
    int64_t offset = 0;       // elements
    Shape stride;             // elements
    bool contiguous = true;
  };
  MappedFile file_;
  std::vector<View> views_;  // by slot
};

// True when the file starts like a zip archive ("PK\3\4").
bool looks_like_zip(const std::string& path);

}  // namespace spt::io
