// The spt checkpoint folder: save/load round trip, the completion marker,
// atomic replacement, and the Hugging Face export.
#include <catch2/catch.hpp>
#include <cstring>

#include "spt/io/checkpoint.h"
#include "spt/io/safetensors.h"
#include "tests/io/io_test_util.h"

using namespace spt;
using namespace spt::io;
using spt::test::error_of;
namespace fs = std::filesystem;

namespace {

CheckpointData from_model(const std::string& name) {
  const auto dir = spt::test::models_dir() / name;
  CheckpointData d;
  d.config = load_model_config(dir.string());
  d.head = head_from_architectures(d.config);
  d.params = load_weights(d.config, *open_tensors(dir.string()), d.head).params;
  d.tokenizer_dir = dir.string();
  return d;
}

void check_same_params(const std::vector<std::pair<std::string, Tensor>>& a,
                       const std::vector<std::pair<std::string, Tensor>>& b) {
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    CHECK(a[i].first == b[i].first);
    REQUIRE(a[i].second.nbytes() == b[i].second.nbytes());
    CHECK(std::memcmp(a[i].second.data_ptr(), b[i].second.data_ptr(), a[i].second.nbytes()) == 0);
  }
}

}  // namespace

TEST_CASE("spt checkpoint round trip with spt settings and trainer state", "[io]") {
  spt::test::TempDir tmp;
  CheckpointData d = from_model("bert_cls");
  d.spt = {{"sparse_layers", {0, 1}}, {"attention", "sparse"}};
  d.trainer_state = {{"step", 12}, {"rng", "philox:7"}};
  d.trainer_tensors = {{"adam.m.layers.0.ffn.up.weight", Tensor::zeros({4}, DType::f32)}};
  const std::string ck = (tmp / "ck").string();
  save_checkpoint(ck, d);
  for (const char* f : {"config.json", "model.safetensors", "vocab.txt", "tokenizer_config.json",
                        "special_tokens_map.json", "spt_checkpoint.json",
                        "trainer_state/state.json", "trainer_state/tensors.safetensors"})
    CHECK(fs::is_regular_file(fs::path(ck) / f));
  CHECK(!fs::exists(ck + ".tmp-" + std::to_string(::getpid())));

  const LoadedCheckpoint c = load_checkpoint(ck);
  CHECK(c.head == ModelHead::sequence_classification);
  CHECK(c.spt["sparse_layers"] == Json::array({0, 1}));
  CHECK(c.spt["format_version"] == kCheckpointVersion);
  CHECK(c.trainer_state["step"] == 12);
  CHECK(SafetensorsReader(c.trainer_tensors_path).tensors().size() == 1);
  CHECK(c.config.num_labels == 3);
  check_same_params(c.weights.params, d.params);
  // model.safetensors carries Hugging Face names and format "pt".
  SafetensorsReader st((fs::path(ck) / "model.safetensors").string());
  CHECK(st.find("bert.encoder.layer.0.attention.self.query.weight") != nullptr);
  CHECK(st.metadata().at("format") == "pt");
}

TEST_CASE("an interrupted or damaged checkpoint is never taken for a complete one", "[io]") {
  spt::test::TempDir tmp;
  const CheckpointData d = from_model("gpt2_lm");
  const std::string ck = (tmp / "ck").string();
  save_checkpoint(ck, d);
  // A crash before the marker: the folder has every other file but no marker.
  fs::remove(fs::path(ck) / kCheckpointMarker);
  CHECK_THAT(error_of([&] { load_checkpoint(ck); }),
             Catch::Contains("not a complete spt checkpoint") && Catch::Contains("hint:"));
  save_checkpoint(ck, d);  // an incomplete folder of ours is replaced
  CHECK_NOTHROW(load_checkpoint(ck));
  // A file changed after saving.
  const auto model = fs::path(ck) / "model.safetensors";
  fs::resize_file(model, fs::file_size(model) - 4);
  CHECK_THAT(error_of([&] { load_checkpoint(ck); }),
             Catch::Contains("model.safetensors has ") && Catch::Contains("truncated or modified after saving"));
  fs::remove(model);
  CHECK_THAT(error_of([&] { load_checkpoint(ck); }), Catch::Contains("model.safetensors is missing"));
}

TEST_CASE("saving replaces an older checkpoint atomically and refuses foreign folders", "[io]") {
  spt::test::TempDir tmp;
  CheckpointData d = from_model("gpt2_base");
  const std::string ck = (tmp / "ck").string();
  save_checkpoint(ck, d);
  d.trainer_state = {{"step", 2}};
  save_checkpoint(ck, d);
  CHECK(load_checkpoint(ck).trainer_state["step"] == 2);
  size_t entries = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(tmp.path())) ++entries;
  CHECK(entries == 1);  // no .tmp- or .old- folders left
  // A folder with someone else's files is never replaced.
  fs::create_directories(tmp / "mine");
  spt::test::spit(tmp / "mine" / "notes.txt", "keep me");
  CHECK_THAT(error_of([&] { save_checkpoint((tmp / "mine").string(), d); }),
             Catch::Contains("not a folder spt may replace"));
  CHECK(spt::test::slurp(tmp / "mine" / "notes.txt") == "keep me");
  // Parameters that do not fit the model are refused before anything is written.
  d.params.pop_back();
  CHECK_THAT(error_of([&] { save_checkpoint((tmp / "ck2").string(), d); }), Catch::Contains("missing"));
  CHECK(!fs::exists(tmp / "ck2"));
}

TEST_CASE("export-hf writes the original Hugging Face tensors and config", "[io]") {
  for (const char* name : {"bert_cls", "bert_base", "gpt2_lm", "gpt2_base"}) {
    INFO(name);
    spt::test::TempDir tmp;
    CheckpointData d = from_model(name);
    d.spt = {{"sparse_layers", {1}}};
    const std::string ck = (tmp / "ck").string(), hf = (tmp / "hf").string();
    save_checkpoint(ck, d);
    export_hf(ck, hf);
    const Json cfg = read_json_file((fs::path(hf) / "config.json").string(), "test");
    CHECK(!cfg.contains("spt"));
    const Json orig = read_json_file((spt::test::models_dir() / name / "config.json").string(), "test");
    CHECK(cfg["architectures"] == orig["architectures"]);
    CHECK(!fs::exists(fs::path(hf) / kCheckpointMarker));
    SafetensorsReader a((fs::path(hf) / "model.safetensors").string());
    const auto b = open_tensors((spt::test::models_dir() / name).string());
    REQUIRE(a.tensors().size() == b->tensors().size());
    for (const TensorInfo& t : b->tensors()) {
      REQUIRE(a.find(t.name) != nullptr);
      CHECK(a.raw(t.name) == b->raw(t.name));
    }
    if (std::string(name) == "bert_cls") CHECK(fs::is_regular_file(fs::path(hf) / "vocab.txt"));
    CHECK_THAT(error_of([&] { export_hf(ck, hf); }), Catch::Contains("not a folder spt may replace"));
    CHECK_THAT(error_of([&] { export_hf(hf, (tmp / "x").string()); }), Catch::Contains("not a complete spt checkpoint"));
  }
}
