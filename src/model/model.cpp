// Parameter layout and the model factory.
#include "spt/model/model.h"

#include "spt/core/error.h"
#include "spt/model/bert.h"
#include "spt/model/gpt2.h"

namespace spt::model {

namespace {

bool takes_weight_decay(const std::string& name) {
  const bool bias = name.size() >= 5 && name.compare(name.size() - 5, 5, ".bias") == 0;
  return !bias && name.find("norm") == std::string::npos;
}

}  // namespace

std::vector<ParamInfo> model_param_infos(const io::ModelConfig& cfg, io::ModelHead head,
                                         const ModelOptions& opts) {
  std::vector<ParamInfo> out;
  for (const io::ParamSpec& s : io::param_specs(cfg, head))
    out.push_back({s.name, s.shape, true, takes_weight_decay(s.name)});
  if (opts.lora.enabled) apply_lora(out, cfg, head, opts.lora);
  add_sparse_attention_params(out, cfg, opts.attention);
  add_routed_ffn_params(out, cfg, opts.ffn);
  return out;
}

std::unique_ptr<Model> make_model(const io::ModelConfig& cfg, io::ModelHead head,
                                  ParameterStore& ps, const ModelOptions& opts) {
  switch (cfg.family) {
    case io::ModelFamily::bert:
      SPT_CHECK(head == io::ModelHead::sequence_classification, "[model] ", cfg.source,
                ": spt trains BERT with a sequence-classification (or regression) head; got head ",
                io::head_name(head), "; hint: set task.type to classification, regression or glue");
      return std::make_unique<BertClassifier>(cfg.bert, cfg.num_labels, ps, opts);
    case io::ModelFamily::gpt2:
      if (head == io::ModelHead::causal_lm) return std::make_unique<Gpt2LanguageModel>(cfg.gpt2, ps, opts);
      SPT_CHECK(head == io::ModelHead::sequence_classification, "[model] ", cfg.source,
                ": GPT-2 needs a causal_lm or classification head; got ", io::head_name(head));
      return std::make_unique<Gpt2Classifier>(cfg.gpt2, cfg.num_labels, ps, opts);
    case io::ModelFamily::llama:
      fail("[model] ", cfg.source, ": spt has no LLaMA model yet; hint: use a bert or gpt2 checkpoint");
  }
  fail("[model] unknown model family");
}

}  // namespace spt::model
