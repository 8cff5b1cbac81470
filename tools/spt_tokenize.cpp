// spt-tokenize: encodes a text file line by line with any supported tokenizer and
// writes one JSON object per line: {"ids", "tokens", "type_ids", "attention_mask"},
// special tokens included. With --pair each line is "text_a<TAB>text_b".
//
//   spt-tokenize --tokenizer models/all-MiniLM-L6-v2 --input lines.txt --max-length 128
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "spt/core/error.h"
#include "spt/tokenize/tokenizer.h"
#include "spt/tokenize/utf8.h"

namespace {

using namespace spt::tokenize;

struct Args {
  std::string tokenizer, input, output, truncation = "longest_first";
  bool pair = false, no_special = false;
  size_t max_length = 0;
};

void run(const Args& a) {
  const auto tok = load_tokenizer(a.tokenizer);
  std::ifstream in(a.input, std::ios::binary);
  SPT_CHECK(in, "[spt-tokenize] cannot open ", a.input, "; hint: check the --input path");
  std::ofstream file;
  if (!a.output.empty()) {
    file.open(a.output, std::ios::binary);
    SPT_CHECK(file, "[spt-tokenize] cannot write ", a.output);
  }
  std::ostream& out = a.output.empty() ? std::cout : file;
  EncodeOptions opt;
  opt.add_special_tokens = !a.no_special;
  if (a.max_length > 0) {
    opt.max_length = a.max_length;
    opt.truncation = parse_truncation(a.truncation);
  }
  std::string line;
  for (size_t n = 1; std::getline(in, line); ++n) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (const size_t bad = utf8_invalid_at(line); bad != kUtf8Valid)
      spt::fail("[spt-tokenize] ", a.input, " line ", n, ": invalid UTF-8 at byte ", bad,
                "; hint: the input must be UTF-8 text");
    Encoding e;
    try {
      if (a.pair) {
        const size_t tab = line.find('\t');
        SPT_CHECK(tab != std::string::npos, "[spt-tokenize] ", a.input, " line ", n,
                  ": no TAB; hint: with --pair each line is text_a<TAB>text_b");
        e = tok->encode_pair(std::string_view(line).substr(0, tab),
                             std::string_view(line).substr(tab + 1), opt);
      } else {
        e = tok->encode(line, opt);
      }
    } catch (const spt::Error& err) {
      spt::fail("[spt-tokenize] ", a.input, " line ", n, ": ", err.what());
    }
    const nlohmann::json j = {{"ids", e.ids}, {"tokens", e.tokens}, {"type_ids", e.type_ids},
                              {"attention_mask", e.attention_mask}};
    out << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
  }
  out.flush();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"spt-tokenize: encode text lines with a Hugging Face tokenizer, one JSON per line"};
  Args a;
  app.add_option("--tokenizer", a.tokenizer,
                 "model folder or tokenizer file (tokenizer.json, vocab.txt, vocab.json, "
                 "tokenizer.model)")->required();
  app.add_option("--input", a.input, "UTF-8 text file, one text (or text_a<TAB>text_b) per line")
      ->required();
  app.add_option("--output", a.output, "write here instead of stdout");
  app.add_flag("--pair", a.pair, "each line is text_a<TAB>text_b");
  app.add_option("--max-length", a.max_length, "truncate to this many tokens, special tokens "
                 "included (0 = no truncation)");
  app.add_option("--truncation", a.truncation, "longest_first, only_first or only_second")
      ->check(CLI::IsMember({"longest_first", "only_first", "only_second"}));
  app.add_flag("--no-special-tokens", a.no_special, "do not add [CLS]/[SEP], <s>, ...");
  CLI11_PARSE(app, argc, argv);
  try {
    run(a);
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    return 1;
  }
  return 0;
}
