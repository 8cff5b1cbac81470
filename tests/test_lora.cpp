// LoRA against Hugging Face PEFT 0.21.2 (fixtures by tools/fixtures/lora_refs.py):
// tiny BERT and GPT-2 models with adapters on every target type (q/k/v/out, FFN
// up/down, GPT-2's fused c_attn and Conv1D layers), rsLoRA, bias none/all/
// lora_only, the classifier as modules_to_save. The adapter is read from PEFT's
// own files (import), the model's logits (<= 1e-4), loss (<= 1e-5 relative) and
// the gradient of every trainable parameter (relative L2 <= 1e-3) are compared
// with PEFT's, the merged model with merge_and_unload()'s logits, and the
// exported adapter with PEFT's file, name for name.
#include <catch2/catch.hpp>
#include <filesystem>
#include <set>

#include "spt/io/checkpoint.h"
#include "spt/io/model_config.h"
#include "spt/io/safetensors.h"
#include "spt/model/model.h"
#include "spt/model/options.h"
#include "spt/model/peft.h"
#include "tests/reference_util.h"
#include "tests/test_paths.h"

using namespace spt;
using namespace spt::test;
namespace fs = std::filesystem;

namespace {

struct LoraCase {
  io::ModelConfig cfg;
  io::ModelHead head;
  model::PeftAdapter adapter;
  fs::path dir;
};

LoraCase load_case(const std::string& name) {
  LoraCase c;
  c.dir = fixtures_dir() / "reference" / ("lora_" + name);
  c.cfg = io::load_model_config((c.dir / "config.json").string());
  c.head = io::head_from_architectures(c.cfg);
  c.adapter = model::read_peft_adapter((c.dir / "adapter").string(), c.cfg, c.head);
  return c;
}

// A store with the base weights and the adapter's tensors.
ParameterStore make_store(const LoraCase& c, const model::ModelOptions& opts) {
  ParameterStore ps(model::model_param_infos(c.cfg, c.head, opts), Device::cpu());
  load_hf(ps, c.cfg, c.head, c.dir / "model.safetensors");
  for (const auto& [name, t] : c.adapter.tensors) ps.param(name).copy_from(t);
  return ps;
}

model::EncoderBatch batch_of(const io::SafetensorsReader& ref) {
  return {load_i32(ref, "input_ids"), ref.find("token_type_ids") ? load_i32(ref, "token_type_ids") : Tensor(),
          load_i32(ref, "attention_mask")};
}

Tensor labels_of(const LoraCase& c, const io::SafetensorsReader& ref) {
  const bool regression = c.cfg.num_labels == 1 && c.head == io::ModelHead::sequence_classification;
  return regression ? ref.load("labels", DType::f32) : load_i32(ref, "labels");
}

void check_against_peft(const std::string& name) {
  const LoraCase c = load_case(name);
  model::ModelOptions opts;
  opts.lora = c.adapter.options;
  ParameterStore ps = make_store(c, opts);
  const auto net = model::make_model(c.cfg, c.head, ps, opts);
  const io::SafetensorsReader ref((c.dir / "reference.safetensors").string());

  const Tensor& logits = net->forward(batch_of(ref), model::StepContext{});
  CHECK(max_abs_diff(logits, ref.load("logits")) <= 1e-4);
  const double loss = net->loss(labels_of(c, ref));
  const double want = ref.load("loss").to_doubles()[0];
  CHECK(std::abs(loss - want) <= 1e-5 * std::abs(want));
  ps.zero_grads();
  net->backward();

  // Exactly PEFT's trainable set, each gradient matching.
  std::set<std::string> peft_trainable;
  for (const io::TensorInfo& t : ref.tensors())
    if (t.name.rfind("grad.", 0) == 0) peft_trainable.insert(t.name.substr(5));
  std::set<std::string> ours;
  for (const ParamInfo& p : ps.infos()) {
    if (!p.trainable) continue;
    const std::string pn = model::peft_param_name(p.name, c.cfg, c.head, opts.lora, true);
    INFO(name << ": trainable " << p.name << " -> PEFT " << pn);
    REQUIRE(!pn.empty());
    REQUIRE(peft_trainable.count(pn) == 1);
    ours.insert(pn);
    CHECK(rel_l2(ps.grad(p.name), ref.load("grad." + pn)) <= 1e-3);
  }
  CHECK(ours == peft_trainable);
}

}  // namespace

TEST_CASE("LoRA BERT classifier, every target type, matches PEFT", "[lora][model]") {
  check_against_peft("bert_cls");
}
TEST_CASE("LoRA BERT with rsLoRA and bias=all matches PEFT", "[lora][model]") {
  check_against_peft("bert_rslora");
}
TEST_CASE("LoRA BERT regression with bias=lora_only matches PEFT", "[lora][model]") {
  check_against_peft("bert_reg_loraonly");
}
TEST_CASE("LoRA GPT-2 causal LM (c_attn, c_proj, c_fc) matches PEFT", "[lora][model]") {
  check_against_peft("gpt2_lm");
}
TEST_CASE("LoRA GPT-2 classifier with rsLoRA matches PEFT", "[lora][model]") {
  check_against_peft("gpt2_cls");
}

TEST_CASE("merge_lora equals PEFT's merge_and_unload", "[lora][peft]") {
  for (const std::string name : {"bert_cls", "bert_rslora", "bert_reg_loraonly", "gpt2_lm", "gpt2_cls"}) {
    INFO(name);
    const LoraCase c = load_case(name);
    model::ModelOptions opts;
    opts.lora = c.adapter.options;
    ParameterStore lora_ps = make_store(c, opts);
    std::vector<std::pair<std::string, Tensor>> params;
    for (const ParamInfo& p : lora_ps.infos()) params.emplace_back(p.name, lora_ps.param(p.name).clone());
    model::merge_lora(params, opts.lora);
    ParameterStore ps(model::model_param_infos(c.cfg, c.head), Device::cpu());
    REQUIRE(params.size() == ps.infos().size());
    for (const auto& [n, t] : params) ps.param(n).copy_from(t);
    const auto net = model::make_model(c.cfg, c.head, ps);
    const io::SafetensorsReader ref((c.dir / "reference.safetensors").string());
    CHECK(max_abs_diff(net->forward(batch_of(ref), model::StepContext{}), ref.load("merged_logits")) <= 1e-4);
  }
}

TEST_CASE("export-peft writes PEFT's tensor names and reads back identically", "[lora][peft]") {
  for (const std::string name : {"bert_cls", "bert_rslora", "bert_reg_loraonly", "gpt2_lm", "gpt2_cls"}) {
    INFO(name);
    const LoraCase c = load_case(name);
    model::ModelOptions opts;
    opts.lora = c.adapter.options;
    ParameterStore ps = make_store(c, opts);
    std::vector<std::pair<std::string, Tensor>> params;
    for (const ParamInfo& p : ps.infos()) params.emplace_back(p.name, ps.param(p.name));
    const fs::path out = fs::temp_directory_path() / ("spt_test_export_peft_" + name);
    fs::remove_all(out);
    model::write_peft_adapter(out.string(), c.cfg, c.head, opts.lora, params);

    // The same tensors under the same names as PEFT's own file (PEFT's extra
    // wrapper copies under bias="all" aside).
    auto names = [](const fs::path& f) {
      std::map<std::string, Shape> m;
      const io::SafetensorsReader r(f.string());
      for (const io::TensorInfo& t : r.tensors())
        if (t.name.find(".original_module.") == std::string::npos &&
            t.name.find(".modules_to_save.") == std::string::npos)
          m[t.name] = t.shape;
      return m;
    };
    CHECK(names(out / "adapter_model.safetensors") == names(c.dir / "adapter" / "adapter_model.safetensors"));

    // Read back: same options, bit-identical tensors.
    const model::PeftAdapter back = model::read_peft_adapter(out.string(), c.cfg, c.head);
    CHECK(back.options.targets == opts.lora.targets);
    CHECK(back.options.rank == opts.lora.rank);
    CHECK(back.options.alpha == opts.lora.alpha);
    CHECK(back.options.rslora == opts.lora.rslora);
    CHECK(back.options.bias == opts.lora.bias);
    REQUIRE(back.tensors.size() == c.adapter.tensors.size());
    for (const auto& [n, t] : back.tensors) CHECK(max_abs_diff(t, ps.param(n)) == 0.0);
    fs::remove_all(out);
  }
}

TEST_CASE("import-peft, export-peft and merge-lora round trips", "[lora][peft]") {
  for (const std::string name : {"bert_cls", "bert_rslora", "bert_reg_loraonly", "gpt2_lm", "gpt2_cls"}) {
    INFO(name);
    const fs::path dir = fixtures_dir() / "reference" / ("lora_" + name);
    const fs::path tmp = fs::temp_directory_path() / ("spt_test_peft_rt_" + name);
    fs::remove_all(tmp);
    // PEFT -> spt checkpoint: the model it holds gives PEFT's logits.
    model::import_peft((dir / "adapter").string(), dir.string(), (tmp / "ckpt").string());
    const io::LoadedCheckpoint lc = io::load_checkpoint((tmp / "ckpt").string());
    const model::ModelOptions opts = model::ModelOptions::from_json(lc.spt, name);
    REQUIRE(opts.lora.enabled);
    ParameterStore ps(model::model_param_infos(lc.config, lc.head, opts), Device::cpu());
    size_t loaded = 0;
    for (const auto* list : {&lc.weights.params, &lc.spt_tensors})
      for (const auto& [n, t] : *list) {
        ps.param(n).copy_from(t);
        ++loaded;
      }
    CHECK(loaded == ps.infos().size());
    const auto net = model::make_model(lc.config, lc.head, ps, opts);
    const io::SafetensorsReader ref((dir / "reference.safetensors").string());
    CHECK(max_abs_diff(net->forward(batch_of(ref), model::StepContext{}), ref.load("logits")) <= 1e-4);

    // spt checkpoint -> PEFT: PEFT's own file back, name for name, bit for bit.
    model::export_peft((tmp / "ckpt").string(), (tmp / "peft").string());
    const io::SafetensorsReader mine((tmp / "peft" / "adapter_model.safetensors").string());
    const io::SafetensorsReader theirs((dir / "adapter" / "adapter_model.safetensors").string());
    size_t compared = 0;
    for (const io::TensorInfo& t : theirs.tensors()) {
      if (t.name.find(".original_module.") != std::string::npos ||
          t.name.find(".modules_to_save.") != std::string::npos)
        continue;
      INFO(t.name);
      REQUIRE(mine.find(t.name) != nullptr);
      CHECK(mine.load(t.name).to_doubles() == theirs.load(t.name).to_doubles());
      ++compared;
    }
    CHECK(compared == mine.tensors().size());

    // merge-lora -> a plain Hugging Face folder with merge_and_unload()'s logits.
    model::merge_lora_checkpoint((tmp / "ckpt").string(), (tmp / "merged").string());
    const io::ModelConfig mc = io::load_model_config((tmp / "merged" / "config.json").string());
    ParameterStore mps(model::model_param_infos(mc, lc.head), Device::cpu());
    load_hf(mps, mc, lc.head, tmp / "merged" / "model.safetensors");
    const auto merged = model::make_model(mc, lc.head, mps);
    CHECK(max_abs_diff(merged->forward(batch_of(ref), model::StepContext{}), ref.load("merged_logits")) <= 1e-4);
    fs::remove_all(tmp);
  }
}
