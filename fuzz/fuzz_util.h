// Shared by the fuzz targets (libFuzzer, see docs/reliability.md).
//
// Every target feeds bytes to a reader the way spt-finetune / spt-convert /
// spt-predict do, and accepts exactly one outcome besides success: spt::Error,
// the clear message the tools print. Anything else (a crash, a sanitizer report,
// another exception type, a leak, an allocation over -malloc_limit_mb, a hang) is
// a finding. Readers that take paths get the bytes in a scratch folder of this
// process (removed at exit).
#pragma once

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "spt/core/error.h"

namespace spt::fuzz {

inline const std::filesystem::path& scratch_dir() {
  static const std::filesystem::path dir = [] {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/spt-fuzz-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) std::abort();
    static const std::string keep = tmpl;
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(keep, ec);
    });
    return std::filesystem::path(tmpl);
  }();
  return dir;
}

// Writes `bytes` to <scratch>/<name> (replacing it) and returns the path.
inline std::string write_scratch(const std::string& name, std::string_view bytes) {
  const std::filesystem::path p = scratch_dir() / name;
  std::filesystem::create_directories(p.parent_path());
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (!out) std::abort();
  return p.string();
}

// Empties the scratch folder (targets that write several files).
inline void clear_scratch() {
  for (const auto& e : std::filesystem::directory_iterator(scratch_dir())) std::filesystem::remove_all(e.path());
}

// Runs `f`; spt::Error (a clear message) is the expected way to refuse input.
template <class F>
void refuse_clearly(F&& f) {
  try {
    f();
  } catch (const spt::Error& e) {
    if (std::string_view(e.what()).empty()) std::abort();  // an error must say something
  }
}

inline std::string_view as_view(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

}  // namespace spt::fuzz
