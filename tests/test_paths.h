// Where tests find data: third-party assets (SPT_ASSETS, default ../shared/data
// beside the repository), the cache of fetched models (SPT_CACHE, default .cache
// in the repository) and the committed fixtures (tests/fixtures).
#pragma once

#include <cstdlib>
#include <filesystem>
#include <string>

namespace spt::test {

inline std::filesystem::path source_dir() { return SPT_SOURCE_DIR; }

inline std::filesystem::path assets_dir() {
  if (const char* e = std::getenv("SPT_ASSETS"); e && *e) return e;
  return source_dir().parent_path() / "shared" / "data";
}

inline std::filesystem::path cache_dir() {
  if (const char* e = std::getenv("SPT_CACHE"); e && *e) return e;
  return source_dir() / ".cache";
}

inline std::filesystem::path fixtures_dir() { return source_dir() / "tests" / "fixtures"; }

// all-MiniLM-L6-v2 as fetched by scripts/fetch_minilm.sh.
inline std::filesystem::path minilm_dir() { return cache_dir() / "models" / "all-MiniLM-L6-v2"; }
// SmolLM2-135M-Instruct as GGUF (scripts/fetch_smollm2.sh).
inline std::filesystem::path smollm2_gguf() {
  return cache_dir() / "models" / "smollm2" / "SmolLM2-135M-Instruct.Q4_1.gguf";
}

}  // namespace spt::test
