// Parameter layout and the model factory.
#include "spt/model/model.h"

#include "spt/core/error.h"
#include "spt/model/bert.h"
#include "spt/model/decoder.h"
#include "spt/model/gpt2.h"
#include "spt/model/llama.h"
#include "spt/model/opt.h"

namespace spt::model {

namespace {

bool takes_weight_decay(const std::string& name) {
  const bool bias = name.size() >= 5 && name.compare(name.size() - 5, 5, ".bias") == 0;
  return !bias && name.find("norm") == std::string::npos;
}

// A decoder-only family's model: causal LM or last-token classification.
std::unique_ptr<Model> decoder_model(const io::ModelConfig& cfg, io::ModelHead head, ParameterStore& ps,
                                     std::unique_ptr<Decoder> decoder, std::optional<int64_t> pad_token_id) {
  if (head == io::ModelHead::causal_lm) return std::make_unique<CausalLanguageModel>(std::move(decoder), ps);
  SPT_CHECK(head == io::ModelHead::sequence_classification, "[model] ", cfg.source, ": ",
            io::family_name(cfg.family), " needs a causal_lm or classification head; got ", io::head_name(head));
  return std::make_unique<DecoderClassifier>(std::move(decoder), ps, cfg.num_labels, pad_token_id);
}

}  // namespace

std::vector<ParamInfo> model_param_infos(const io::ModelConfig& cfg, io::ModelHead head,
                                         const ModelOptions& opts) {
  std::vector<ParamInfo> out;
  const bool mean_pooled = opts.pooling == Pooling::mean;
  for (const io::ParamSpec& s : io::param_specs(cfg, head)) {
    // Mean pooling leaves the pooler unused: kept (the checkpoint stays complete), not trained.
    const bool unused = mean_pooled && s.name.rfind("pooler.", 0) == 0;
    out.push_back({s.name, s.shape, !unused, takes_weight_decay(s.name)});
  }
  if (opts.lora.enabled) apply_lora(out, cfg, head, opts.lora);
  add_sparse_attention_params(out, cfg, opts.attention);
  add_routed_ffn_params(out, cfg, opts.ffn);
  return out;
}

std::unique_ptr<Model> make_model(const io::ModelConfig& cfg, io::ModelHead head,
                                  ParameterStore& ps, const ModelOptions& opts) {
  SPT_CHECK(opts.pooling == Pooling::cls || cfg.family == io::ModelFamily::bert, "[model] ", cfg.source,
            ": model.pooling = ", pooling_name(opts.pooling), " is for BERT-family encoders; a ",
            io::family_name(cfg.family), " classifier reads its last token; hint: remove model.pooling");
  switch (cfg.family) {
    case io::ModelFamily::bert:
      SPT_CHECK(head == io::ModelHead::sequence_classification, "[model] ", cfg.source,
                ": spt trains BERT with a sequence-classification (or regression) head; got head ",
                io::head_name(head), "; hint: set task.type to classification, regression or glue");
      return std::make_unique<BertClassifier>(cfg.bert, cfg.num_labels, ps, opts);
    case io::ModelFamily::gpt2:
      return decoder_model(cfg, head, ps, std::make_unique<Gpt2Decoder>(cfg.gpt2, ps, opts),
                           cfg.gpt2.pad_token_id);
    case io::ModelFamily::llama:
      return decoder_model(cfg, head, ps, std::make_unique<LlamaDecoder>(cfg.llama, ps, opts),
                           cfg.llama.pad_token_id);
    case io::ModelFamily::opt:
      return decoder_model(cfg, head, ps, std::make_unique<OptDecoder>(cfg.opt, ps, opts), cfg.opt.pad_token_id);
  }
  fail("[model] unknown model family");
}

}  // namespace spt::model
