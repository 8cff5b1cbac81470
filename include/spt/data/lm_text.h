// Causal-LM data from plain text files, packed as transformers' run_clm does
// (group_texts): tokenize every document, concatenate them (separated by the
// tokenizer's EOS token when it has one), cut the stream into blocks of block_size
// tokens and drop the remainder. Labels are the input ids; the model shifts them.
//
// A document is a whole file by default; it can also be each line, or each run of
// lines between blank lines. Texts are tokenized without template tokens
// (Tokenizer::tokenize), so BERT's [CLS]/[SEP] are not inserted.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "spt/data/bad_rows.h"
#include "spt/tokenize/tokenizer.h"

namespace spt::data {

enum class DocumentSplit { file, line, blank_line };

struct LmOptions {
  size_t block_size = 128;
  DocumentSplit documents = DocumentSplit::file;
  size_t max_blocks = 0;        // keep the first N blocks (0: all)
  bool skip_bad_rows = false;   // lines with invalid UTF-8 are dropped and counted
  std::string config_key = "data.train";
};

struct LmBlocks {
  size_t block_size = 0;
  std::vector<int32_t> tokens;  // (num_blocks, block_size), row-major
  size_t documents = 0;         // documents packed
  size_t total_tokens = 0;      // before the remainder was dropped
  size_t dropped_tokens = 0;    // the remainder (and blocks past max_blocks)
  BadRows bad_rows;
  std::string source;           // the files, comma-separated

  size_t num_blocks() const { return block_size ? tokens.size() / block_size : 0; }
};

// Concatenates `docs` with `separator` between consecutive documents (none when
// unset) and cuts blocks of `block_size` tokens, dropping the remainder.
LmBlocks pack_blocks(const std::vector<std::vector<int32_t>>& docs,
                     std::optional<int32_t> separator, size_t block_size, size_t max_blocks = 0);

// Reads, tokenizes and packs `files`. Throws when they give less than one block.
LmBlocks read_lm_blocks(const std::vector<std::filesystem::path>& files,
                        const tokenize::Tokenizer& tokenizer, const LmOptions& opt);

}  // namespace spt::data
