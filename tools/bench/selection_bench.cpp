// spt-bench --selection (see selection_bench.h): the text is cut into windows of
// T tokens; the first `calibration` windows give the keys for k-means (dense
// forward passes, as training does before its first step), the next `windows`
// are run with sparse attention in every layer and every query row is measured
// against dense attention on the same q and k.
#include "tools/bench/selection_bench.h"

#include <cstdio>
#include <fstream>
#include <sstream>

#include "spt/core/error.h"
#include "spt/io/weight_map.h"
#include "spt/model/attention_probes.h"
#include "spt/model/model.h"
#include "spt/tokenize/tokenizer.h"

namespace spt::bench {

namespace {

// Windows of the text, T tokens each (special tokens included), batch of one.
std::vector<model::EncoderBatch> windows(const tokenize::Tokenizer& tok, const std::string& text, int64_t T,
                                         int64_t count) {
  std::istringstream in(text);
  std::vector<std::string> words;
  for (std::string w; in >> w;) words.push_back(w);
  tokenize::EncodeOptions eo;
  eo.truncation = tokenize::Truncation::longest_first;
  eo.max_length = static_cast<size_t>(T);
  std::vector<model::EncoderBatch> out;
  size_t pos = 0;
  const size_t step = static_cast<size_t>(T);  // words per window: enough for T tokens
  while (static_cast<int64_t>(out.size()) < count && pos + step <= words.size()) {
    std::string piece;
    for (size_t i = pos; i < pos + step; ++i) piece += words[i] + " ";
    pos += step;
    const tokenize::Encoding e = tok.encode(piece, eo);
    if (static_cast<int64_t>(e.size()) < T) continue;
    const int64_t n = static_cast<int64_t>(e.size());
    std::vector<int64_t> ids(e.ids.begin(), e.ids.end()), types(e.type_ids.begin(), e.type_ids.end());
    out.push_back({Tensor::from_ints(ids, {1, n}, DType::i32), Tensor::from_ints(types, {1, n}, DType::i32),
                   Tensor::from_ints(std::vector<int64_t>(ids.size(), 1), {1, n}, DType::i32)});
  }
  SPT_CHECK(static_cast<int64_t>(out.size()) == count, "[selection] the text gives only ", out.size(),
            " windows of ", T, " tokens; ", count, " are needed");
  return out;
}

}  // namespace

double run_selection_bench(const SelectionBenchOptions& o) {
  io::ModelConfig cfg = io::load_model_config(o.model);
  cfg.num_labels = 2;
  const io::ModelHead head = cfg.family == io::ModelFamily::gpt2 ? io::ModelHead::causal_lm
                                                                 : io::ModelHead::sequence_classification;
  model::ModelOptions opts;
  model::SparseAttentionOptions& a = opts.attention;
  a.enabled = true;
  a.select.top_ratio = static_cast<float>(o.top_ratio);
  a.select.min_l = 1;
  a.select.rerank = o.rerank;
  a.subvector_dim = o.subvector_dim;
  a.codewords = o.codewords;
  a.max_samples = 1 << 20;
  a.validate(cfg, "[selection] " + o.model);
  ParameterStore ps(model::model_param_infos(cfg, head, opts), Device::cpu());
  const auto reader = io::open_tensors(o.model);
  const io::LoadedWeights w = io::load_weights(cfg, *reader, head);
  for (const auto& [name, t] : w.params) ps.param(name).copy_from(t);
  auto net = model::make_model(cfg, head, ps, opts);
  const auto tok = tokenize::load_tokenizer(o.model);
  std::ifstream f(o.text);
  SPT_CHECK(f.good(), "[selection] cannot read ", o.text);
  const std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  const auto all = windows(*tok, text, o.seq, o.calibration + o.windows);
  const std::vector<model::EncoderBatch> calib(all.begin(), all.begin() + o.calibration);
  const std::vector<model::EncoderBatch> eval(all.begin() + o.calibration, all.end());
  const auto q = model::calibrate_and_measure(*net, ps, cfg, a, calib, eval, 1, 1, o.seq);
  const model::AttentionShape s = model::attention_shape(cfg);
  std::printf("\nselection on %s: T=%lld, L=%lld, %lld x %lld codewords of %lld dims, rerank %lld; "
              "k-means on %lld windows, measured on %lld\n\n| layer | mass share | recall | rows |\n|---|---|---|---|\n",
              o.model.c_str(), static_cast<long long>(o.seq),
              static_cast<long long>(ops::sparse_slots(a.select, o.seq)),
              static_cast<long long>(s.head_dim / o.subvector_dim), static_cast<long long>(o.codewords),
              static_cast<long long>(o.subvector_dim), static_cast<long long>(o.rerank),
              static_cast<long long>(o.calibration), static_cast<long long>(o.windows));
  double mass = 0, recall = 0;
  for (const auto& [layer, lq] : q) {
    std::printf("| %lld | %.4f | %.4f | %lld |\n", static_cast<long long>(layer), lq.mean_mass(), lq.mean_recall(),
                static_cast<long long>(lq.rows));
    mass += lq.mean_mass();
    recall += lq.mean_recall();
  }
  mass /= static_cast<double>(q.size());
  recall /= static_cast<double>(q.size());
  std::printf("| mean | %.4f | %.4f | |\n", mass, recall);
  std::printf("{\"mass_share\": %.5f, \"recall\": %.5f, \"seq\": %lld, \"rerank\": %lld, \"subvector_dim\": %lld}\n",
              mass, recall, static_cast<long long>(o.seq), static_cast<long long>(o.rerank),
              static_cast<long long>(o.subvector_dim));
  return mass;
}

}  // namespace spt::bench
