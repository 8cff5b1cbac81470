// Sharded checkpoints: "model.safetensors.index.json" (or
// "pytorch_model.bin.index.json") maps every tensor name to the shard file
// holding it: {"metadata": {"total_size": ...}, "weight_map": {name: file}}.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "spt/io/tensor_reader.h"

namespace spt::io {

class ShardedReader final : public TensorReader {
 public:
  // `index_path` is the index JSON; shards are read from its folder. Every
  // weight_map entry must name a plain file in that folder that holds the
  // tensor; no tensor may appear in two shards.
  explicit ShardedReader(const std::string& index_path);
  std::string format() const override;
  const std::vector<std::unique_ptr<TensorReader>>& shards() const { return shards_; }

 private:
  const unsigned char* bytes(const TensorInfo& t, std::vector<unsigned char>& scratch) const override;

  std::vector<std::unique_ptr<TensorReader>> shards_;
  std::vector<std::pair<size_t, const TensorInfo*>> where_;  // by slot: shard, its info
};

}  // namespace spt::io
