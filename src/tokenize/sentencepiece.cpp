// SentencePiece through libsentencepiece, segment by segment as transformers'
// LlamaTokenizer (legacy=False: Metaspace prepend_scheme "first") encodes: the dummy
// "▁" goes only before a segment at the start of its sequence that does not already
// start with a space (or "▁"); plain sentencepiece would also prefix "  x" -> "▁▁▁x".
#include "spt/tokenize/sentencepiece.h"

#include <sentencepiece_processor.h>

#include <fstream>
#include <sstream>

#include "spt/core/error.h"
#include "src/tokenize/spm_proto.h"

namespace spt::tokenize {

namespace {

std::unique_ptr<sentencepiece::SentencePieceProcessor> load_proto(const std::string& bytes,
                                                                   const std::string& file) {
  auto sp = std::make_unique<sentencepiece::SentencePieceProcessor>();
  const auto status = sp->LoadFromSerializedProto(bytes);
  SPT_CHECK(status.ok(), "[sentencepiece] ", file, ": cannot load the model (", status.ToString(),
            "); hint: pass the tokenizer.model file of a SentencePiece tokenizer");
  return sp;
}

}  // namespace

SentencePieceTokenizer::SentencePieceTokenizer(const std::filesystem::path& model_file,
                                               bool add_bos, bool add_eos) {
  std::ifstream in(model_file, std::ios::binary);
  SPT_CHECK(in, "[sentencepiece] cannot open ", model_file.string(), "; hint: check the path");
  std::ostringstream ss;
  ss << in.rdbuf();
  const std::string bytes = ss.str();
  const SpmProtoInfo info = inspect_spm_model(bytes, model_file.string());
  sp_ = load_proto(bytes, model_file.string());
  adds_dummy_prefix_ = info.add_dummy_prefix;
  if (adds_dummy_prefix_) sp_no_prefix_ = load_proto(info.without_dummy_prefix, model_file.string());

  // Control pieces and <unk> are matched in text as HF's added tokens are.
  auto id_of = [&](int id) -> std::optional<int32_t> {
    if (id < 0) return std::nullopt;
    return id;
  };
  special_.unk_id = id_of(sp_->unk_id());
  special_.bos_id = id_of(sp_->bos_id());
  special_.eos_id = id_of(sp_->eos_id());
  for (int id = 0; id < sp_->GetPieceSize(); ++id) {
    if (sp_->IsControl(id) || sp_->IsUnknown(id)) special_.added.push_back({sp_->IdToPiece(id), id});
  }
  SPT_CHECK(!add_bos || special_.bos_id, "[sentencepiece] ", model_file.string(),
            " has no BOS piece but add_bos_token is set; hint: set add_bos_token to false in "
            "tokenizer_config.json");
  SPT_CHECK(!add_eos || special_.eos_id, "[sentencepiece] ", model_file.string(),
            " has no EOS piece but add_eos_token is set; hint: set add_eos_token to false in "
            "tokenizer_config.json");
  // LLaMA template: single "<s>:0 $A:0 [</s>:0]", pair "... <s>:1 $B:1 [</s>:1]".
  for (int seq = 0; seq < 2; ++seq) {
    const int32_t type_id = seq;
    if (add_bos) special_.pair.push_back({-1, *special_.bos_id, type_id});
    special_.pair.push_back({seq, 0, type_id});
    if (add_eos) special_.pair.push_back({-1, *special_.eos_id, type_id});
    if (seq == 0) special_.single = special_.pair;
  }
  special_.default_padding_left = true;  // LlamaTokenizer.padding_side
  if (special_.eos_id) {                 // no pad piece in LLaMA models: pad = eos
    special_.pad_id = sp_->pad_id() >= 0 ? sp_->pad_id() : *special_.eos_id;
    special_.pad_token = sp_->IdToPiece(*special_.pad_id);
  }
}

SentencePieceTokenizer::~SentencePieceTokenizer() = default;

size_t SentencePieceTokenizer::vocab_size() const {
  return static_cast<size_t>(sp_->GetPieceSize());
}

std::string SentencePieceTokenizer::id_to_token(int32_t id) const {
  SPT_CHECK(id >= 0 && id < sp_->GetPieceSize(), "[sentencepiece] id ", id,
            " out of range (vocabulary of ", sp_->GetPieceSize(), ")");
  return sp_->IdToPiece(id);
}

std::optional<int32_t> SentencePieceTokenizer::token_to_id(std::string_view token) const {
  const int id = sp_->PieceToId(std::string(token));
  if (sp_->IsUnknown(id) && sp_->IdToPiece(id) != token) return std::nullopt;
  return id;
}

std::vector<int32_t> SentencePieceTokenizer::encode_plain(std::string_view text) const {
  std::vector<int> ids;
  const auto status = sp_->Encode(std::string(text), &ids);
  SPT_CHECK(status.ok(), "[sentencepiece] encoding failed: ", status.ToString());
  return {ids.begin(), ids.end()};
}

void SentencePieceTokenizer::encode_segment(std::string_view segment, bool at_start,
                                            std::vector<int32_t>& out) const {
  const bool starts_with_space = segment.front() == ' ' || segment.rfind("\xE2\x96\x81", 0) == 0;
  const bool prefix = adds_dummy_prefix_ && at_start && !starts_with_space;
  const auto& sp = prefix || !adds_dummy_prefix_ ? *sp_ : *sp_no_prefix_;
  std::vector<int> ids;
  const auto status = sp.Encode(std::string(segment), &ids);
  SPT_CHECK(status.ok(), "[sentencepiece] encoding failed: ", status.ToString());
  out.insert(out.end(), ids.begin(), ids.end());
}

std::string SentencePieceTokenizer::decode(const std::vector<int32_t>& ids, bool skip_special) const {
  std::vector<int> keep;
  for (int32_t id : ids)
    if (!(skip_special && special_.is_special(id))) keep.push_back(id);
  std::string text;
  const auto status = sp_->Decode(keep, &text);
  SPT_CHECK(status.ok(), "[sentencepiece] decoding failed: ", status.ToString());
  return text;
}

}  // namespace spt::tokenize
