// Helpers of the training tests: a tiny random BERT in the Hugging Face format
// (with the committed cased WordPiece tokenizer), a small labelled TSV, a run
// config, and running spt-finetune as a child process.
#pragma once

#include <catch2/catch.hpp>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "spt/io/checkpoint.h"
#include "spt/io/json_util.h"
#include "spt/io/model_config.h"
#include "spt/io/safetensors.h"
#include "spt/io/weight_map.h"
#include "spt/core/error.h"
#include "spt/model/model.h"
#include "spt/train/config.h"
#include "spt/train/trainer.h"
#include "tests/reference_util.h"
#include "tests/test_paths.h"

namespace spt::test {

namespace fs = std::filesystem;

// A tiny random-weight model in memory (BERT: classification with 3 labels;
// GPT-2, LLaMA and OPT: causal LM), d = 48, 2 layers, 3 heads (LLaMA: 6 query
// heads on 2 key/value heads), FFN 40 (BERT) / 192 (GPT-2) / SwiGLU 64 (LLaMA) /
// ReLU 64 (OPT), and
// a batch of B rows of T ids whose row 1 is padded from position `pad_from`.
struct TinyCase {
  io::ModelConfig cfg;
  io::ModelHead head;
  model::EncoderBatch batch;
  Tensor labels;
};

inline TinyCase tiny_case(const std::string& family, int64_t B, int64_t T, int64_t pad_from) {
  std::vector<int64_t> ids, mask;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < T; ++t) {
      ids.push_back(1 + (b * 31 + t * 7) % 90);
      mask.push_back(b == 1 && t >= pad_from ? 0 : 1);
    }
  const bool bert = family == "bert";
  const io::Json j = bert ? io::Json{{"model_type", "bert"}, {"vocab_size", 100}, {"hidden_size", 48},
                                     {"num_hidden_layers", 2}, {"num_attention_heads", 3},
                                     {"intermediate_size", 40}, {"max_position_embeddings", 64}}
                     : family == "llama"
                          ? io::Json{{"model_type", "llama"}, {"vocab_size", 100}, {"hidden_size", 48},
                                     {"num_hidden_layers", 2}, {"num_attention_heads", 6},
                                     {"num_key_value_heads", 2}, {"intermediate_size", 64},
                                     {"max_position_embeddings", 64}}
                     : family == "opt"
                          ? io::Json{{"model_type", "opt"}, {"vocab_size", 100}, {"hidden_size", 48},
                                     {"num_hidden_layers", 2}, {"num_attention_heads", 3}, {"ffn_dim", 64},
                                     {"max_position_embeddings", 64}, {"dropout", 0.0}}
                          : io::Json{{"model_type", "gpt2"}, {"vocab_size", 100}, {"n_embd", 48},
                                     {"n_layer", 2}, {"n_head", 3}, {"n_positions", 64}};
  TinyCase c;
  c.cfg = io::parse_model_config(j, family + "-tiny");
  c.cfg.num_labels = 3;
  c.head = bert ? io::ModelHead::sequence_classification : io::ModelHead::causal_lm;
  c.batch = {Tensor::from_ints(ids, {B, T}, DType::i32), Tensor(), Tensor::from_ints(mask, {B, T}, DType::i32)};
  std::vector<int64_t> lab;
  if (bert)
    for (int64_t b = 0; b < B; ++b) lab.push_back((2 * b + 2) % 3);
  else
    for (int64_t i = 0; i < B * T; ++i) lab.push_back(mask[i] ? ids[i] : -100);
  c.labels = Tensor::from_ints(lab, bert ? Shape{B} : Shape{B, T}, DType::i32);
  return c;
}

// Every parameter of `ps` drawn from N(0, std) (seeded); norm weights 1.
inline void randomize_params(ParameterStore& ps, uint64_t seed, double std) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> nd(0.0, std);
  for (const ParamInfo& p : ps.infos()) {
    std::vector<double> v(static_cast<size_t>(shape_numel(p.shape)));
    for (double& x : v) x = p.name.find("norm.weight") != std::string::npos ? 1.0 : nd(rng);
    ps.param(p.name).copy_from(Tensor::from_doubles(v, p.shape, DType::f32));
  }
}

// Logits and every trainable gradient of one forward/backward of tc's model
// built with `opts`, its parameters set by `init`.
struct TinyPass {
  Tensor logits;
  std::map<std::string, Tensor> grads;
};

inline TinyPass tiny_pass(const TinyCase& tc, const model::ModelOptions& opts,
                          const std::function<void(ParameterStore&)>& init) {
  ParameterStore ps(model::model_param_infos(tc.cfg, tc.head, opts), Device::cpu());
  init(ps);
  auto net = model::make_model(tc.cfg, tc.head, ps, opts);
  TinyPass out;
  out.logits = net->forward(tc.batch, model::StepContext{}).to(Device::cpu());
  net->loss(tc.labels);
  net->backward();
  for (const ParamInfo& p : ps.infos())
    if (p.trainable) out.grads[p.name] = ps.grad(p.name).to(Device::cpu());
  return out;
}

// b's logits and every gradient a has equal a's (rel L2 <= 1e-5). The key bias
// gets no gradient in exact arithmetic (softmax is shift-invariant): both sides
// are rounding noise there, compared in absolute terms.
inline void check_same_pass(const TinyPass& a, const TinyPass& b) {
  CHECK(rel_l2(b.logits, a.logits) <= 1e-5);
  for (const auto& [name, g] : a.grads) {
    INFO(name);
    REQUIRE(b.grads.count(name));
    if (name.find("attn.k.bias") != std::string::npos)
      CHECK(max_abs_diff(b.grads.at(name), g) <= 1e-6);
    else
      CHECK(rel_l2(b.grads.at(name), g) <= 1e-5);
  }
}

inline fs::path fresh_dir(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / ("spt_test_" + name + "_" + std::to_string(getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

// A tiny BertModel in the Hugging Face format, vocabulary of the committed cased tokenizer.
inline fs::path make_tiny_bert(const fs::path& root, double dropout, int64_t intermediate = 37) {
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
                      {"intermediate_size", intermediate}, {"max_position_embeddings", 64}, {"type_vocab_size", 2},
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
inline void make_data(const fs::path& file, int rows, uint64_t seed) {
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

inline io::Json run_config(const fs::path& model, const fs::path& data, const fs::path& out) {
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

// The error a Trainer built from config `j` throws ("" when it builds).
inline std::string trainer_error(const io::Json& j, const fs::path& root) {
  try {
    const train::ResolvedConfig cfg = train::resolve_config(j, (root / "cfg.json").string());
    train::Trainer t(cfg);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

inline std::string write_config(const fs::path& path, const io::Json& j) {
  std::ofstream(path) << j.dump(2);
  return path.string();
}

inline std::vector<char> file_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// In a forked child: runs args[0] with `args`, or exits 127.
[[noreturn]] inline void exec_or_exit(const std::vector<std::string>& args) {
  std::vector<char*> argv;
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  execv(argv[0], argv.data());
  _exit(127);
}

inline pid_t spawn(const std::vector<std::string>& args) {
  const pid_t pid = fork();
  if (pid == 0) exec_or_exit(args);
  return pid;
}

// Like spawn, with stdout and stderr into `log` and `env` set in the child, in
// its own process group.
inline pid_t spawn_logged(const std::vector<std::string>& args, const fs::path& log,
                          const std::vector<std::pair<std::string, std::string>>& env = {}) {
  const pid_t pid = fork();
  if (pid == 0) {
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 1);
    dup2(fd, 2);
    setpgid(0, 0);
    for (const auto& [k, v] : env) setenv(k.c_str(), v.c_str(), 1);
    exec_or_exit(args);
  }
  return pid;
}

// Waits up to `seconds`; -1 (and the process group killed) when it did not end.
inline int wait_exit_within(pid_t pid, double seconds) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  int status = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    const pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  kill(-pid, SIGKILL);
  waitpid(pid, &status, 0);
  return -1;
}

inline std::string read_text(const fs::path& p) {
  std::ifstream in(p);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// The lines of a metrics log of one type ("train", "eval", "stopped"); a last
// line the run is still writing (not yet valid JSON) is left out.
inline std::vector<io::Json> records(const fs::path& metrics, const std::string& type) {
  std::vector<io::Json> out;
  std::ifstream in(metrics);
  for (std::string line; std::getline(in, line);) {
    io::Json j = io::Json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_object() && j.value("type", "") == type) out.push_back(j);
  }
  return out;
}

// Waits (up to 2 minutes) until the metrics log has `n` training lines.
inline void wait_for_steps(const fs::path& metrics, size_t n) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (std::chrono::steady_clock::now() < deadline && records(metrics, "train").size() < n)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
}

inline int wait_exit(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

inline std::vector<double> losses(const fs::path& metrics) {
  std::vector<double> out;
  std::ifstream in(metrics);
  for (std::string line; std::getline(in, line);) {
    const io::Json j = io::Json::parse(line);
    if (j.at("type") == "train") out.push_back(j.at("loss").get<double>());
  }
  return out;
}

// SPT_FAULT_NONFINITE=STEP:LAYER for the scope (a NaN in that layer's output).
struct FaultEnv {
  explicit FaultEnv(const char* v) { setenv("SPT_FAULT_NONFINITE", v, 1); }
  ~FaultEnv() { unsetenv("SPT_FAULT_NONFINITE"); }
};

// Every weight of the checkpoint in `dir`, in name order, flattened.
inline std::vector<double> weights_of(const fs::path& dir) {
  const io::LoadedCheckpoint c = io::load_checkpoint(dir.string());
  std::vector<double> all;
  for (const auto& [name, t] : c.weights.params) {
    const auto v = t.to_doubles();
    all.insert(all.end(), v.begin(), v.end());
  }
  return all;
}

// Trains `j` for 6 steps with a checkpoint after each and a NaN injected into
// layer 0's output at step 4, and checks that step 4 changed no weight while
// step 5 did (the step was skipped, the run went on). Returns root/out.
inline fs::path run_skipping_step_4(io::Json j, const fs::path& root) {
  j["train"]["max_steps"] = 6;
  j["output"]["save_every_steps"] = 1;
  j["output"]["keep_last"] = 10;
  const FaultEnv fault("4:0");
  train::Trainer t(train::resolve_config(j, (root / "cfg.json").string()));
  CHECK(t.train().steps == 6);
  const fs::path out = root / "out";
  CHECK(weights_of(out / "checkpoint-3") == weights_of(out / "checkpoint-4"));
  CHECK(weights_of(out / "checkpoint-4") != weights_of(out / "checkpoint-5"));
  return out;
}

}  // namespace spt::test
