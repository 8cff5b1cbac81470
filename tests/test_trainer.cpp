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

using namespace spt;
namespace fs = std::filesystem;

namespace {

fs::path fresh_dir(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / ("spt_test_" + name + "_" + std::to_string(getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

// A tiny BertModel in the Hugging Face format, vocabulary of the committed cased tokenizer.
fs::path make_tiny_bert(const fs::path& root, double dropout) {
  const fs::path dir = root / "tiny-bert";
  fs::create_directories(dir);
  const fs::path tok = test::fixtures_dir() / "tokenizers" / "bert_cased";
  int64_t vocab = 0;
  {
    std::ifstream v(tok / "vocab.txt");
    for (std::string line; std::getline(v, line);) ++vocab;
  }
  const io::Json j = {{"model_type", "bert"}, {"architectures", {"BertModel"}}, {"vocab_size", vocab},
                      {"hidden_size", 32}, {"num_hidden_layers", 2}, {"num_attention_heads", 4},
                      {"intermediate_size", 37}, {"max_position_embeddings", 64}, {"type_vocab_size", 2},
                      {"hidden_dropout_prob", dropout}, {"attention_probs_dropout_prob", dropout},
                      {"layer_norm_eps", 1e-12}, {"pad_token_id", 0}};
  std::ofstream(dir / "config.json") << j.dump(2);
  const io::ModelConfig cfg = io::parse_model_config(j, (dir / "config.json").string());
  std::mt19937_64 rng(5);
  std::normal_distribution<double> nd(0.0, 0.05);
  std::vector<std::pair<std::string, Tensor>> params;
  for (const io::ParamSpec& s : io::param_specs(cfg, io::ModelHead::none)) {
    std::vector<double> v(static_cast<size_t>(shape_numel(s.shape)));
    const bool norm_w = s.name.find("norm.weight") != std::string::npos;
    for (double& x : v) x = norm_w ? 1.0 : nd(rng);
    params.emplace_back(s.name, Tensor::from_doubles(v, s.shape, DType::f32));
  }
  io::write_safetensors((dir / "model.safetensors").string(),
                        io::to_hf_tensors(cfg, io::ModelHead::none, params));
  for (const char* f : {"vocab.txt", "tokenizer.json", "tokenizer_config.json"})
    fs::copy_file(tok / f, dir / f, fs::copy_options::overwrite_existing);
  return dir;
}

// A small sentiment-like TSV: label pos when a positive word wins.
void make_data(const fs::path& file, int rows, uint64_t seed) {
  const std::vector<std::string> pos = {"good", "great", "fine", "happy", "strong"};
  const std::vector<std::string> neg = {"bad", "poor", "sad", "weak", "wrong"};
  const std::vector<std::string> filler = {"the", "people", "of", "America", "and", "we", "will", "year"};
  std::mt19937_64 rng(seed);
  std::ofstream out(file);
  out << "text\tlabel\n";
  for (int r = 0; r < rows; ++r) {
    const bool p = rng() % 2;
    std::string text;
    const int n = 3 + static_cast<int>(rng() % 9);
    for (int i = 0; i < n; ++i) text += filler[rng() % filler.size()] + " ";
    text += (p ? pos : neg)[rng() % 5];
    out << text << "\t" << (p ? "pos" : "neg") << "\n";
  }
}

io::Json run_config(const fs::path& model, const fs::path& data, const fs::path& out) {
  return {{"model", {{"path", model.string()}}},
          {"task", {{"type", "classification"}}},
          {"data", {{"train", data.string()}, {"label_names", {"neg", "pos"}}}},
          {"tokenizer", {{"max_length", 24}}},
          {"train", {{"batch_size", 8}, {"max_steps", 30}, {"learning_rate", 1e-3}, {"seed", 7},
                     {"warmup_steps", 3}}},
          {"eval", {{"every_epoch", false}}},
          {"output", {{"dir", out.string()}, {"save_best", false}}},
          {"logging", {{"every_steps", 1}, {"level", "warn"}}}};
}

std::string write_config(const fs::path& path, const io::Json& j) {
  std::ofstream(path) << j.dump(2);
  return path.string();
}

std::vector<char> file_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

pid_t spawn(const std::vector<std::string>& args) {
  const pid_t pid = fork();
  if (pid == 0) {
    std::vector<char*> argv;
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  return pid;
}

int wait_exit(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::vector<double> losses(const fs::path& metrics) {
  std::vector<double> out;
  std::ifstream in(metrics);
  for (std::string line; std::getline(in, line);) {
    const io::Json j = io::Json::parse(line);
    if (j.at("type") == "train") out.push_back(j.at("loss").get<double>());
  }
  return out;
}

}  // namespace

TEST_CASE("a run killed with SIGKILL and resumed ends bit-identical", "[train][resume]") {
  const fs::path root = fresh_dir("resume");
  const fs::path model = make_tiny_bert(root, 0.1);  // dropout on: masks must replay too
  make_data(root / "train.tsv", 100, 1);
  const std::string bin = SPT_FINETUNE_BIN;

  io::Json a = run_config(model, root / "train.tsv", root / "a");
  REQUIRE(wait_exit(spawn({bin, "--config", write_config(root / "a.json", a)})) == 0);

  io::Json b = run_config(model, root / "train.tsv", root / "b");
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
  const auto wa = file_bytes(root / "a" / "final" / "model.safetensors");
  const auto wb = file_bytes(root / "b" / "final" / "model.safetensors");
  REQUIRE(!wa.empty());
  CHECK(wa == wb);
  fs::remove_all(root);
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
