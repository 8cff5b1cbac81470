// The transformer block a parameter or module belongs to, from its spt name.
#pragma once

#include <cstdint>
#include <string>

namespace spt::model {

// "layers.12.attn.q.weight" or "layers.12.ffn.up" -> 12; -1 for names outside
// the blocks (embeddings, heads, final norms).
inline int64_t block_of(const std::string& name) {
  if (name.rfind("layers.", 0) != 0) return -1;
  const size_t dot = name.find('.', 7);
  const std::string n = name.substr(7, dot == std::string::npos ? std::string::npos : dot - 7);
  return !n.empty() && n.size() < 10 && n.find_first_not_of("0123456789") == std::string::npos ? std::stoll(n) : -1;
}

}  // namespace spt::model
