// Reading the JSON files of a tokenizer folder with errors that name the file.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>

namespace spt::tokenize {

// Parses `file`; throws "[<component>] <file>: ..." when missing or malformed.
nlohmann::json read_json(const std::filesystem::path& file, const char* component);

}  // namespace spt::tokenize
