// safetensors writer: the official layout (dtype-then-name order, metadata
// first, space-padded 8-byte aligned header), written atomically.
#include <algorithm>
#include <cstring>

#include "spt/core/error.h"
#include "spt/io/atomic_file.h"
#include "spt/io/json_util.h"
#include "spt/io/safetensors.h"

namespace spt::io {

void write_safetensors(const std::string& path, std::vector<SafetensorsEntry> entries,
                       const std::map<std::string, std::string>& metadata) {
  // Largest dtype first keeps every tensor aligned to its element size when
  // the header is 8-byte aligned; then by name, as safetensors' own writer.
  std::stable_sort(entries.begin(), entries.end(),
                   [](const SafetensorsEntry& a, const SafetensorsEntry& b) {
                     if (a.dtype != b.dtype) return a.dtype > b.dtype;
                     return a.name < b.name;
                   });
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    nlohmann::ordered_json m = nlohmann::ordered_json::object();
    for (const auto& [k, v] : metadata) m[k] = v;
    header["__metadata__"] = m;
  }
  uint64_t offset = 0;
  for (size_t i = 0; i < entries.size(); ++i) {
    const SafetensorsEntry& e = entries[i];
    SPT_CHECK(e.name != "__metadata__", "[safetensors] ", path,
              ": a tensor cannot be named \"__metadata__\"");
    SPT_CHECK(!header.contains(e.name), "[safetensors] ", path, ": tensor \"", e.name,
              "\" given twice");
    for (int64_t d : e.shape)
      SPT_CHECK(d >= 0, "[safetensors] ", path, ": tensor \"", e.name, "\" has negative shape ",
                shape_str(e.shape));
    const uint64_t n = static_cast<uint64_t>(shape_numel(e.shape)) * stored_dtype_size(e.dtype);
    SPT_CHECK(n == 0 || e.data != nullptr, "[safetensors] ", path, ": tensor \"", e.name,
              "\" has no data");
    nlohmann::ordered_json t;
    t["dtype"] = stored_dtype_name(e.dtype);
    t["shape"] = e.shape;
    t["data_offsets"] = {offset, offset + n};
    header[e.name] = t;
    offset += n;
  }
  std::string text = header.dump();
  text.resize((text.size() + 7) / 8 * 8, ' ');
  SPT_CHECK(text.size() <= kMaxSafetensorsHeader, "[safetensors] ", path, ": header of ",
            text.size(), " bytes exceeds the format's limit");
  const uint64_t n = text.size();
  unsigned char len[8];
  std::memcpy(len, &n, 8);

  AtomicFile f(path);
  f.write(len, 8);
  f.write(text);
  for (const SafetensorsEntry& e : entries) {
    const uint64_t nbytes = static_cast<uint64_t>(shape_numel(e.shape)) * stored_dtype_size(e.dtype);
    if (nbytes > 0) f.write(e.data, nbytes);
  }
  f.commit();
}

void write_safetensors(const std::string& path,
                       const std::vector<std::pair<std::string, Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  std::vector<Tensor> host;  // keeps the host copies alive while writing
  std::vector<SafetensorsEntry> entries;
  host.reserve(tensors.size());
  for (const auto& [name, t] : tensors) {
    SPT_CHECK(t.defined(), "[safetensors] ", path, ": tensor \"", name, "\" is undefined");
    SPT_CHECK(t.is_contiguous(), "[safetensors] ", path, ": tensor \"", name,
              "\" must be contiguous, got ", t.str());
    Tensor h = t.device().is_cpu() ? t : t.to(Device::cpu());
    host.push_back(h);
    entries.push_back({name, stored_dtype_of(h.dtype()), h.shape(), h.data_ptr()});
  }
  write_safetensors(path, std::move(entries), metadata);
}

}  // namespace spt::io
