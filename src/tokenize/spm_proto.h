// Minimal protobuf surgery on a serialized SentencePiece ModelProto, so that spt needs
// no protobuf headers: read and switch off NormalizerSpec.add_dummy_prefix.
// ModelProto field 3 = normalizer_spec; NormalizerSpec field 3 = add_dummy_prefix
// (bool, default true) -- sentencepiece_model.proto.
#pragma once

#include <string>
#include <string_view>

namespace spt::tokenize {

struct SpmProtoInfo {
  bool add_dummy_prefix = true;
  std::string without_dummy_prefix;  // the same model with add_dummy_prefix = false
};

// Throws spt::Error naming `file` when `model` is not a valid protobuf message.
SpmProtoInfo inspect_spm_model(std::string_view model, const std::string& file);

}  // namespace spt::tokenize
