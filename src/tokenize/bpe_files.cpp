// vocab.json / merges.txt readers for byte-level BPE, with errors naming file and line.
#include <fstream>

#include "spt/core/error.h"
#include "spt/tokenize/bpe.h"
#include "spt/tokenize/utf8.h"
#include "src/tokenize/json_file.h"

namespace spt::tokenize {

std::unordered_map<std::string, int32_t> read_bpe_vocab(const std::filesystem::path& file) {
  const nlohmann::json j = read_json(file, "bpe");
  SPT_CHECK(j.is_object() && !j.empty(), "[bpe] ", file.string(),
            ": expected a JSON object mapping tokens to ids; hint: pass GPT-2's vocab.json");
  std::unordered_map<std::string, int32_t> vocab;
  vocab.reserve(j.size());
  for (const auto& [tok, id] : j.items()) {
    SPT_CHECK(id.is_number_integer() && id.get<int64_t>() >= 0 && id.get<int64_t>() < (1LL << 31),
              "[bpe] ", file.string(), ": token '", tok, "' has id ", id.dump(),
              ", expected a non-negative integer; hint: the file is damaged");
    vocab.emplace(tok, id.get<int32_t>());
  }
  return vocab;
}

std::vector<std::pair<std::string, std::string>> read_bpe_merges(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  SPT_CHECK(in, "[bpe] cannot open ", file.string(), "; hint: check the path");
  std::vector<std::pair<std::string, std::string>> merges;
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(std::move(line));
  }
  while (!lines.empty() && lines.back().empty()) lines.pop_back();  // trailing blank lines
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::string& line = lines[i];
    if (line.rfind("#version", 0) == 0) continue;
    if (const size_t bad = utf8_invalid_at(line); bad != kUtf8Valid)
      fail("[bpe] ", file.string(), " line ", i + 1, ": invalid UTF-8 at byte ", bad,
           "; hint: merges.txt must be UTF-8");
    const size_t sp = line.find(' ');
    SPT_CHECK(sp != std::string::npos && sp > 0 && sp + 1 < line.size() &&
                  line.find(' ', sp + 1) == std::string::npos,
              "[bpe] ", file.string(), " line ", i + 1, ": expected two tokens separated by one "
              "space, got '", line, "'; hint: merges.txt lists one merge 'a b' per line");
    merges.emplace_back(line.substr(0, sp), line.substr(sp + 1));
  }
  return merges;
}

}  // namespace spt::tokenize
