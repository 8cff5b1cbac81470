// Helpers shared by the [data] tests: fixture paths, scratch files, the test tokenizers.
#pragma once

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "spt/tokenize/tokenizer.h"
#include "tests/test_paths.h"

namespace spt::test {

inline std::filesystem::path data_fixture(const std::string& rel) {
  return fixtures_dir() / "data" / rel;
}

// A file under the system temp dir with the given bytes, removed at scope exit.
class ScratchFile {
 public:
  ScratchFile(const std::string& name, const std::string& bytes) {
    static std::atomic<int> counter{0};
    dir_ = std::filesystem::temp_directory_path() /
           ("spt-data-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::filesystem::create_directories(dir_);
    path_ = dir_ / name;
    std::ofstream(path_, std::ios::binary) << bytes;
  }
  ~ScratchFile() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  ScratchFile(const ScratchFile&) = delete;
  ScratchFile& operator=(const ScratchFile&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path dir_, path_;
};

// The committed cased WordPiece fixture (BERT template [CLS] A [SEP] B [SEP], pad [PAD]).
inline const tokenize::Tokenizer& bert_tokenizer() {
  static const auto tok = tokenize::load_tokenizer(fixtures_dir() / "tokenizers" / "bert_cased");
  return *tok;
}

// The real GPT-2 BPE from the shared assets (no pad token; EOS <|endoftext|> = 50256).
inline std::filesystem::path gpt2_dir() { return assets_dir() / "gpt2-bpe"; }

}  // namespace spt::test
