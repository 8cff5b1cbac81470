// Fuzz target: tokenizer files as load_tokenizer reads a model folder. The first
// byte picks the file: 0 tokenizer.json, 1 vocab.txt (WordPiece), 2 vocab.json +
// merges.txt (byte-level BPE; the rest is split at the first NUL byte), 3
// tokenizer.model (SentencePiece protobuf). A tokenizer that loads then encodes
// and decodes a fixed text and a pair.
#include "fuzz/fuzz_util.h"
#include "spt/tokenize/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace spt;
  if (size < 1) return 0;
  const uint8_t mode = data[0] % 4;
  const std::string_view rest = fuzz::as_view(data + 1, size - 1);
  fuzz::clear_scratch();
  const std::string dir = (fuzz::scratch_dir() / "tok").string();
  switch (mode) {
    case 0: fuzz::write_scratch("tok/tokenizer.json", rest); break;
    case 1: fuzz::write_scratch("tok/vocab.txt", rest); break;
    case 2: {
      const size_t cut = rest.find('\0');
      fuzz::write_scratch("tok/vocab.json", rest.substr(0, cut));
      fuzz::write_scratch("tok/merges.txt", cut == std::string_view::npos ? "" : rest.substr(cut + 1));
      break;
    }
    default: fuzz::write_scratch("tok/tokenizer.model", rest); break;
  }
  fuzz::refuse_clearly([&] {
    const auto tok = tokenize::load_tokenizer(dir);
    tokenize::EncodeOptions o;
    o.truncation = tokenize::Truncation::longest_first;
    o.max_length = 64;
    const auto e = tok->encode("Hello, world! Ünïcödé 日本語 don't [CLS] <s> 12345  tabs\tand\nlines", o);
    tok->decode(e.ids, false);
    tok->encode_pair("a question?", "a passage.", o);
  });
  return 0;
}
