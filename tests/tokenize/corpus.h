// The tokenizer stress corpus, rebuilt exactly as tools/fixtures/tokenizer_refs.py builds
// it: the committed synthetic lines, then the first 6 sentences of every State of the
// Union speech in $SPT_ASSETS/sotu.tar.xz (files in name order), and the reference
// ids HF computed for it (tests/fixtures/tokenizers/reference/<name>.json.gz).
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace spt::test {

inline constexpr int kSotuSentencesPerFile = 6;

// Sentence = up to '.', '!' or '?' followed by a space or the end; CR/LF become spaces.
std::vector<std::string> split_sentences(std::string text);

// (name, contents) of the regular .txt files of an .tar.xz archive, in name order.
std::vector<std::pair<std::string, std::string>> read_tar_xz(const std::filesystem::path& file);

// The whole corpus; FAILs the test with a hint when the shared data is missing.
const std::vector<std::string>& tokenizer_corpus();

std::string fnv1a64(const std::vector<std::string>& lines);

// Parsed reference file (gzip JSON) of one tokenizer.
nlohmann::json read_reference(const std::string& name);

}  // namespace spt::test
