// Causal-LM text packing (see spt/data/lm_text.h).
#include "spt/data/lm_text.h"

#include "spt/core/error.h"
#include "spt/data/records.h"
#include "src/data/fields.h"

namespace spt::data {

namespace fs = std::filesystem;

LmBlocks pack_blocks(const std::vector<std::vector<int32_t>>& docs,
                     std::optional<int32_t> separator, size_t block_size, size_t max_blocks) {
  SPT_CHECK(block_size >= 1, "[data] block_size must be at least 1; hint: set data.block_size");
  LmBlocks out;
  out.block_size = block_size;
  out.documents = docs.size();
  for (size_t d = 0; d < docs.size(); ++d) {
    if (d > 0 && separator) out.tokens.push_back(*separator);
    out.tokens.insert(out.tokens.end(), docs[d].begin(), docs[d].end());
  }
  out.total_tokens = out.tokens.size();
  size_t keep = out.tokens.size() / block_size;
  if (max_blocks) keep = std::min(keep, max_blocks);
  out.tokens.resize(keep * block_size);
  out.dropped_tokens = out.total_tokens - out.tokens.size();
  return out;
}

LmBlocks read_lm_blocks(const std::vector<fs::path>& files, const tokenize::Tokenizer& tokenizer,
                        const LmOptions& opt) {
  SPT_CHECK(!files.empty(), "[data] no text files given; hint: set ", opt.config_key);
  BadRows bad;
  const RowPolicy policy(opt.skip_bad_rows, bad);
  std::vector<std::vector<int32_t>> docs;
  std::string sources;
  const auto flush = [&](std::string& doc) {
    if (!doc.empty()) docs.push_back(tokenizer.tokenize(doc));
    doc.clear();
  };
  for (const auto& file : files) {
    LineReader lines(file, opt.config_key);
    sources += (sources.empty() ? "" : ", ") + lines.file();
    std::string line, doc;
    bool first_in_doc = true;
    while (lines.next(line)) {
      if (const auto problem = utf8_problem(line); !problem.empty()) {
        policy.bad_row(lines.file(), lines.line_number(), problem,
                       "convert the file to UTF-8, or set data.skip_bad_rows = true to drop "
                       "such lines");
        continue;
      }
      if (opt.documents == DocumentSplit::line) {
        if (!detail::is_blank(line)) flush(line);
        continue;
      }
      if (opt.documents == DocumentSplit::blank_line && detail::is_blank(line)) {
        flush(doc);
        first_in_doc = true;
        continue;
      }
      // Keep the text as written: lines joined with the newlines between them.
      if (!first_in_doc) doc += '\n';
      doc += line;
      first_in_doc = false;
    }
    flush(doc);
  }
  LmBlocks out = pack_blocks(docs, tokenizer.special().eos_id, opt.block_size, opt.max_blocks);
  out.bad_rows = bad;
  out.source = sources;
  if (out.num_blocks() == 0)
    fail("[data] ", sources, ": ", out.total_tokens, " tokens make no block of ", opt.block_size,
         "; hint: lower data.block_size or give more text");
  return out;
}

}  // namespace spt::data
