// JSON file reading for tokenizer folders (see json_file.h).
#include "src/tokenize/json_file.h"

#include <fstream>
#include <sstream>

#include "spt/core/error.h"
#include "spt/io/json_util.h"

namespace spt::tokenize {

nlohmann::json read_json(const std::filesystem::path& file, const char* component) {
  std::ifstream in(file, std::ios::binary);
  SPT_CHECK(in, "[", component, "] cannot open ", file.string(), "; hint: check the path");
  std::ostringstream ss;
  ss << in.rdbuf();
  if (const std::string deep = io::json_depth_problem(ss.str()); !deep.empty())
    fail("[", component, "] ", file.string(), ": ", deep);
  try {
    return nlohmann::json::parse(ss.str());
  } catch (const nlohmann::json::parse_error& e) {
    // e.byte is 1-based; report the line too.
    const std::string text = ss.str();
    const size_t at = e.byte > 0 ? std::min<size_t>(e.byte - 1, text.size()) : 0;
    size_t line = 1;
    for (size_t i = 0; i < at; ++i) line += text[i] == '\n';
    fail("[", component, "] ", file.string(), " line ", line, ": malformed JSON (", e.what(),
         "); hint: the file is damaged or not a tokenizer file");
  } catch (const nlohmann::json::exception& e) {  // e.g. a number past double's range
    fail("[", component, "] ", file.string(), ": malformed JSON (", e.what(),
         "); hint: the file is damaged or not a tokenizer file");
  }
}

}  // namespace spt::tokenize
