// Tokenizer corpus and reference loading for the [tokenize] tests (see corpus.h).
#include "tests/tokenize/corpus.h"

#include <lzma.h>
#include <zlib.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "tests/test_paths.h"

namespace spt::test {

namespace fs = std::filesystem;

std::vector<std::string> split_sentences(std::string text) {
  std::replace(text.begin(), text.end(), '\r', ' ');
  std::replace(text.begin(), text.end(), '\n', ' ');
  std::vector<std::string> out;
  auto push = [&](size_t a, size_t b) {
    while (a < b && text[a] == ' ') ++a;
    while (b > a && text[b - 1] == ' ') --b;
    if (b > a) out.push_back(text.substr(a, b - a));
  };
  size_t start = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if ((c == '.' || c == '!' || c == '?') && (i + 1 == text.size() || text[i + 1] == ' ')) {
      push(start, i + 1);
      start = i + 1;
    }
  }
  push(start, text.size());
  return out;
}

std::vector<std::pair<std::string, std::string>> read_tar_xz(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) FAIL("cannot open " << file << "; set SPT_ASSETS to the shared data folder");
  std::ostringstream ss;
  ss << in.rdbuf();
  const std::string xz = ss.str();
  std::string tar;
  lzma_stream strm = LZMA_STREAM_INIT;
  REQUIRE(lzma_stream_decoder(&strm, UINT64_MAX, 0) == LZMA_OK);
  strm.next_in = reinterpret_cast<const uint8_t*>(xz.data());
  strm.avail_in = xz.size();
  std::vector<uint8_t> buf(1 << 20);
  lzma_ret ret = LZMA_OK;
  while (ret == LZMA_OK) {
    strm.next_out = buf.data();
    strm.avail_out = buf.size();
    ret = lzma_code(&strm, LZMA_FINISH);
    tar.append(reinterpret_cast<const char*>(buf.data()), buf.size() - strm.avail_out);
  }
  lzma_end(&strm);
  REQUIRE(ret == LZMA_STREAM_END);
  // ustar: 512-byte headers; name [0,100), size (octal) [124,136), type [156], prefix [345,500).
  std::vector<std::pair<std::string, std::string>> files;
  for (size_t pos = 0; pos + 512 <= tar.size();) {
    const char* h = tar.data() + pos;
    if (h[0] == '\0') break;
    const std::string name(h, strnlen(h, 100));
    const std::string prefix(h + 345, strnlen(h + 345, 155));
    const size_t size = std::stoull(std::string(h + 124, 12), nullptr, 8);
    const char type = h[156];
    const std::string full = prefix.empty() ? name : prefix + "/" + name;
    if ((type == '0' || type == '\0') && full.size() >= 4 && full.ends_with(".txt"))
      files.emplace_back(full, tar.substr(pos + 512, size));
    pos += 512 + (size + 511) / 512 * 512;
  }
  std::sort(files.begin(), files.end());
  return files;
}

const std::vector<std::string>& tokenizer_corpus() {
  static std::vector<std::string> lines;
  if (!lines.empty()) return lines;
  const fs::path sotu = assets_dir() / "sotu.tar.xz";
  if (!fs::exists(sotu))
    FAIL(sotu << " not found: the tokenizer tests need the shared data; set SPT_ASSETS to the "
                 "folder holding sotu.tar.xz and gpt2-bpe/");
  std::ifstream syn(fixtures_dir() / "tokenizers" / "synthetic.jsonl", std::ios::binary);
  REQUIRE(syn);
  std::vector<std::string> out;
  for (std::string l; std::getline(syn, l);) out.push_back(nlohmann::json::parse(l).get<std::string>());
  for (const auto& [name, text] : read_tar_xz(sotu)) {
    auto s = split_sentences(text);
    for (size_t i = 0; i < s.size() && i < static_cast<size_t>(kSotuSentencesPerFile); ++i)
      out.push_back(std::move(s[i]));
  }
  lines = std::move(out);
  return lines;
}

std::string fnv1a64(const std::vector<std::string>& lines) {
  uint64_t h = 0xCBF29CE484222325ULL;
  auto mix = [&](unsigned char b) { h = (h ^ b) * 0x100000001B3ULL; };
  for (const auto& l : lines) {
    for (unsigned char b : l) mix(b);
    mix('\n');
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

nlohmann::json read_reference(const std::string& name) {
  const fs::path file = fixtures_dir() / "tokenizers" / "reference" / (name + ".json.gz");
  gzFile gz = gzopen(file.string().c_str(), "rb");
  if (!gz) FAIL("cannot open " << file << "; regenerate with tools/fixtures/tokenizer_refs.py");
  std::string text;
  char buf[1 << 16];
  int n;
  while ((n = gzread(gz, buf, sizeof buf)) > 0) text.append(buf, static_cast<size_t>(n));
  gzclose(gz);
  REQUIRE(n == 0);
  return nlohmann::json::parse(text);
}

}  // namespace spt::test
