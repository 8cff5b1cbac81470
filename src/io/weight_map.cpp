// Checkpoint tensors -> spt parameters (load_weights) and back (to_hf_tensors).
#include "spt/io/weight_map.h"

#include <cstring>
#include <map>
#include <set>
#include <sstream>

#include "spt/core/error.h"

namespace spt::io {

namespace {

bool starts_with(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }
bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

Shape reversed(const Shape& s) { return Shape(s.rbegin(), s.rend()); }

// Tensors a checkpoint may hold that the model deliberately does not load.
bool is_ignored(const ModelConfig& c, ModelHead head, const std::string& name) {
  if (c.family == ModelFamily::bert) {
    // Buffers of BertEmbeddings; MLM / NSP heads (cls.*); a classifier when
    // no classification head is requested.
    return ends_with(name, "embeddings.position_ids") || ends_with(name, "embeddings.token_type_ids") ||
           starts_with(name, "cls.") ||
           (head != ModelHead::sequence_classification && starts_with(name, "classifier."));
  }
  // Decoders: the LM head when tied (it is the word embedding) or not
  // requested; the classification "score" when not requested.
  const bool head_unused = (name == "lm_head.weight" && (c.tie_word_embeddings || head != ModelHead::causal_lm)) ||
                           (name == "score.weight" && head != ModelHead::sequence_classification);
  // Causal-mask buffers of old GPT2Attention; RoPE buffers of old LLaMA checkpoints.
  if (c.family == ModelFamily::gpt2)
    return head_unused || ends_with(name, ".attn.bias") || ends_with(name, ".attn.masked_bias");
  if (c.family == ModelFamily::llama) return head_unused || ends_with(name, ".rotary_emb.inv_freq");
  return head_unused;
}

}  // namespace

Tensor transpose2d(const Tensor& t) {
  SPT_CHECK(t.ndim() == 2 && t.device().is_cpu() && t.is_contiguous(),
            "[weights] transpose2d needs a contiguous 2-D cpu tensor, got ", t.str());
  const int64_t r = t.dim(0), c = t.dim(1);
  const size_t es = dtype_size(t.dtype());
  Tensor out = Tensor::empty({c, r}, t.dtype());
  const auto* src = static_cast<const unsigned char*>(t.data_ptr());
  auto* dst = static_cast<unsigned char*>(out.data_ptr());
  for (int64_t i = 0; i < r; ++i)
    for (int64_t j = 0; j < c; ++j)
      std::memcpy(dst + static_cast<size_t>(j * r + i) * es, src + static_cast<size_t>(i * c + j) * es, es);
  return out;
}

LoadedWeights load_weights(const ModelConfig& c, const TensorReader& ckpt, ModelHead head,
                           DType dtype) {
  const std::vector<ParamMapping> maps = param_mappings(c, head);
  LoadedWeights out;
  const std::string base = base_prefix(c.family);
  for (const TensorInfo& t : ckpt.tensors())
    if (starts_with(t.name, base)) out.prefix = base;

  std::vector<std::string> problems;
  std::vector<const TensorInfo*> found(maps.size(), nullptr);
  std::set<std::string> used;
  for (size_t i = 0; i < maps.size(); ++i) {
    const ParamMapping& m = maps[i];
    const std::string pre = m.in_base ? out.prefix : "";
    const TensorInfo* t = ckpt.find(pre + m.hf);
    for (size_t a = 0; !t && a < m.hf_alt.size(); ++a) t = ckpt.find(pre + m.hf_alt[a]);
    const Shape want = m.transpose ? reversed(m.spec.shape) : m.spec.shape;
    if (!t) {
      if (m.spec.head) out.newly_initialized.push_back(m.spec.name);
      else problems.push_back("missing " + pre + m.hf + " (expected " + shape_str(want) + ")");
      continue;
    }
    used.insert(t->name);
    if (!stored_is_floating(t->dtype))
      problems.push_back(t->name + ": dtype " + stored_dtype_name(t->dtype) +
                         ", expected a floating type (F32, F16, BF16, F64)");
    else if (t->shape != want)
      problems.push_back(t->name + ": expected " + shape_str(want) + ", found " + shape_str(t->shape));
    else
      found[i] = t;
  }
  if (!problems.empty()) {
    std::ostringstream msg;
    msg << "[weights] " << ckpt.path() << " does not match the " << family_name(c.family)
        << " model of " << c.source << " (head " << head_name(head) << "): " << problems.size()
        << " problem" << (problems.size() > 1 ? "s" : "") << ":";
    const size_t shown = std::min<size_t>(problems.size(), 40);
    for (size_t i = 0; i < shown; ++i) msg << "\n  " << problems[i];
    if (shown < problems.size()) msg << "\n  ... and " << problems.size() - shown << " more";
    if (problems.size() > 4) {  // many problems: show what the checkpoint holds instead
      msg << "\nthe checkpoint holds " << ckpt.tensors().size() << " tensors, e.g.";
      for (size_t i = 0; i < ckpt.tensors().size() && i < 4; ++i) msg << " " << ckpt.tensors()[i].name;
    }
    msg << "\nhint: check that config.json belongs to these weights (sizes such as hidden_size, "
           "intermediate_size, vocab_size, num_labels must match); list the checkpoint with "
           "spt-convert inspect";
    fail(msg.str());
  }
  for (size_t i = 0; i < maps.size(); ++i) {
    if (!found[i]) continue;
    Tensor t = ckpt.load(found[i]->name, dtype);
    out.params.emplace_back(maps[i].spec.name, maps[i].transpose ? transpose2d(t) : t);
  }
  for (const TensorInfo& t : ckpt.tensors()) {
    if (used.count(t.name)) continue;
    (is_ignored(c, head, t.name) ? out.ignored : out.unused).push_back(t.name);
  }
  return out;
}

std::vector<std::pair<std::string, Tensor>> to_hf_tensors(
    const ModelConfig& c, ModelHead head, const std::vector<std::pair<std::string, Tensor>>& params) {
  std::map<std::string, const Tensor*> by_name;
  for (const auto& [name, t] : params) by_name[name] = &t;
  const std::string pre = head == ModelHead::none ? "" : base_prefix(c.family);
  std::vector<std::pair<std::string, Tensor>> out;
  std::vector<std::string> problems;
  for (const ParamMapping& m : param_mappings(c, head)) {
    auto it = by_name.find(m.spec.name);
    if (it == by_name.end()) {
      problems.push_back("missing " + m.spec.name);
      continue;
    }
    const Tensor& t = *it->second;
    if (t.shape() != m.spec.shape) {
      problems.push_back(m.spec.name + ": expected " + shape_str(m.spec.shape) + ", found " +
                         shape_str(t.shape()));
      continue;
    }
    const Tensor host = t.device().is_cpu() ? t : t.to(Device::cpu());
    out.emplace_back((m.in_base ? pre : "") + m.hf, m.transpose ? transpose2d(host) : host);
  }
  if (!problems.empty()) {
    std::string msg;
    for (const std::string& p : problems) msg += "\n  " + p;
    fail("[weights] parameters do not match the ", family_name(c.family), " model of ", c.source,
         " (head ", head_name(head), "):", msg, "\nhint: pass every parameter of param_specs()");
  }
  return out;
}

}  // namespace spt::io
