// Fuzz target: an spt config file as `spt-finetune --config F --set K=V ...`
// reads it: JSON, schema validation, overrides, path resolution. The input is
// the file up to the first NUL byte, then one override per line.
#include <vector>

#include "fuzz/fuzz_util.h"
#include "spt/train/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace spt;
  const std::string_view all = fuzz::as_view(data, size);
  const size_t cut = all.find('\0');
  const std::string path = fuzz::write_scratch("run.json", all.substr(0, cut));
  std::vector<std::string> overrides;
  if (cut != std::string_view::npos) {
    std::string_view rest = all.substr(cut + 1);
    while (!rest.empty() && overrides.size() < 16) {
      const size_t nl = rest.find('\n');
      overrides.emplace_back(rest.substr(0, nl));
      rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
    }
  }
  fuzz::refuse_clearly([&] { train::load_config(path, overrides); });
  return 0;
}
