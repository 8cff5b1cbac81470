// The fine-tuning loop end to end on a tiny random BERT (written here in the
// Hugging Face format, with the committed cased WordPiece tokenizer):
//   * a run killed with SIGKILL mid-training and resumed with --resume ends with
//     weights bit-identical to an uninterrupted run;
//   * gradient accumulation 4 x 8 equals batch 32 (losses and weights within
//     fp32 rounding);
//   * learning-rate schedules follow transformers' formulas.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "spt/io/json_util.h"
#include "spt/io/model_config.h"
#include "spt/io/safetensors.h"
#include "spt/io/weight_map.h"
#include "spt/train/config.h"
#include "spt/train/schedule.h"
#include "spt/train/trainer.h"
#include "tests/test_paths.h"
#include "tests/train_util.h"

using namespace spt;
using namespace spt::test;
namespace fs = std::filesystem;


namespace {

// Kills a run with SIGKILL after its checkpoint at step 16, resumes it, and
// compares every file of the final model with an uninterrupted run's.
void check_resume(const std::string& tag, const io::Json& extra) {
  const fs::path root = fresh_dir("resume_" + tag);
  // Dropout on: masks must replay too. 40 FFN neurons: a routed FFN can split them.
  const fs::path model = make_tiny_bert(root, 0.1, extra.contains("ffn") ? 40 : 37);
  make_data(root / "train.tsv", 100, 1);
  const std::string bin = SPT_FINETUNE_BIN;

  io::Json a = run_config(model, root / "train.tsv", root / "a");
  a.merge_patch(extra);
  REQUIRE(wait_exit(spawn({bin, "--config", write_config(root / "a.json", a)})) == 0);

  io::Json b = run_config(model, root / "train.tsv", root / "b");
  b.merge_patch(extra);
  b["output"]["save_every_steps"] = 2;
  b["output"]["keep_last"] = 3;
  const std::string cb = write_config(root / "b.json", b);
  const pid_t pid = spawn({bin, "--config", cb});
  // Kill it as soon as a checkpoint beyond the first epoch exists (13 batches per epoch).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  bool killed = false;
  while (std::chrono::steady_clock::now() < deadline) {
    if (fs::exists(root / "b" / "checkpoint-16" / "spt_checkpoint.json")) {
      kill(pid, SIGKILL);
      killed = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  const int status = wait_exit(pid);
  REQUIRE(killed);
  CHECK(status == 128 + SIGKILL);
  CHECK_FALSE(fs::exists(root / "b" / "final"));
  REQUIRE(wait_exit(spawn({bin, "--config", cb, "--resume"})) == 0);
  for (const char* f : {"model.safetensors", "spt_tensors.safetensors"}) {
    INFO(f);
    REQUIRE(fs::exists(root / "a" / "final" / f) == fs::exists(root / "b" / "final" / f));
    if (!fs::exists(root / "a" / "final" / f)) continue;
    const auto wa = file_bytes(root / "a" / "final" / f);
    const auto wb = file_bytes(root / "b" / "final" / f);
    REQUIRE(!wa.empty());
    CHECK(wa == wb);
  }
  if (extra.contains("lora") || extra.contains("attention") || extra.contains("ffn"))
    CHECK(fs::exists(root / "b" / "final" / "spt_tensors.safetensors"));
  fs::remove_all(root);
}

}  // namespace

TEST_CASE("a run killed with SIGKILL and resumed ends bit-identical", "[train][resume]") {
  check_resume("dense", io::Json::object());
}

TEST_CASE("a LoRA run killed with SIGKILL and resumed ends bit-identical, adapters included",
          "[train][resume][lora]") {
  check_resume("lora", {{"lora", {{"enabled", true}, {"rank", 4}, {"alpha", 8}, {"dropout", 0.1},
                                  {"targets", {"attn.q", "attn.v", "ffn.*"}}}}});
}

TEST_CASE("a sparse-attention run killed with SIGKILL and resumed ends bit-identical, codebooks included",
          "[train][resume][sparse]") {
  // L = 4 of up to 24 keys, codebooks learned before step 1 and updated every 5 steps.
  check_resume("sparse", {{"attention", {{"type", "sparse"}, {"top_l", 4}, {"keep_first", 1},
                                         {"pq", {{"subvector_dim", 4}, {"rerank", 2}, {"update_every", 5},
                                                 {"calibration_batches", 2}}}}},
                          {"lora", {{"enabled", true}, {"rank", 4}, {"alpha", 8}, {"targets", {"attn.*"}}}}});
}

TEST_CASE("a routed-FFN run killed with SIGKILL and resumed ends bit-identical, routers included",
          "[train][resume][routed]") {
  // 2 of 4 blocks per token in layer 1, routers fitted before step 1 and trained, balance loss on.
  check_resume("routed", {{"ffn", {{"type", "routed"}, {"blocks", 4}, {"active", 2}, {"layers", {"1"}},
                                   {"calibration_batches", 2}, {"balance_loss", 0.01}}}});
}

TEST_CASE("gradient accumulation 4 x 8 equals batch 32", "[train][accumulation]") {
  const fs::path root = fresh_dir("accum");
  const fs::path model = make_tiny_bert(root, 0.0);  // no dropout: the two runs see the same function
  make_data(root / "train.tsv", 96, 2);
  std::vector<std::vector<double>> weights, step_losses;
  for (int accum : {1, 4}) {
    io::Json j = run_config(model, root / "train.tsv", root / ("out" + std::to_string(accum)));
    j["train"]["batch_size"] = 32;
    j["train"]["grad_accumulation"] = accum;
    j["train"]["max_steps"] = 3;
    const train::ResolvedConfig cfg = train::resolve_config(j, (root / "cfg.json").string());
    train::Trainer t(cfg);
    t.train();
    step_losses.push_back(losses(root / ("out" + std::to_string(accum)) / "metrics.jsonl"));
    const io::SafetensorsReader r((root / ("out" + std::to_string(accum)) / "final" / "model.safetensors").string());
    std::vector<double> all;
    for (const io::TensorInfo& ti : r.tensors()) {
      const auto v = r.load(ti.name).to_doubles();
      all.insert(all.end(), v.begin(), v.end());
    }
    weights.push_back(all);
  }
  REQUIRE(step_losses[0].size() == 3);
  REQUIRE(step_losses[1].size() == 3);
  for (size_t i = 0; i < 3; ++i) CHECK(step_losses[1][i] == Approx(step_losses[0][i]).epsilon(1e-5));
  REQUIRE(weights[0].size() == weights[1].size());
  double max_diff = 0;
  for (size_t i = 0; i < weights[0].size(); ++i)
    max_diff = std::max(max_diff, std::abs(weights[0][i] - weights[1][i]));
  CHECK(max_diff < 1e-5);
  fs::remove_all(root);
}

TEST_CASE("learning-rate schedules follow transformers", "[train][schedule]") {
  train::LrSchedule s{train::Schedule::linear, 1.0, 10, 110};
  CHECK(s.lr(0) == 0.0);
  CHECK(s.lr(5) == Approx(0.5));
  CHECK(s.lr(10) == Approx(1.0));
  CHECK(s.lr(60) == Approx(0.5));
  CHECK(s.lr(110) == 0.0);
  CHECK(s.lr(200) == 0.0);
  s.kind = train::Schedule::cosine;
  CHECK(s.lr(10) == Approx(1.0));
  CHECK(s.lr(60) == Approx(0.5));
  CHECK(s.lr(110) == Approx(0.0).margin(1e-12));
  s.kind = train::Schedule::constant;
  CHECK(s.lr(3) == Approx(0.3));
  CHECK(s.lr(100) == 1.0);
  CHECK(train::warmup_steps(0, 0.1, 95) == 10);  // ceil, as transformers
  CHECK(train::warmup_steps(7, 0.5, 95) == 7);
}
