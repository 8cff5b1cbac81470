// Data-parallel training on real MPI (Debian's OpenMPI, `mpirun -np 2` on this
// machine), against single-process runs of spt-finetune:
//   * 2 processes equal one process with the same global batch (dropout,
//     gradient accumulation, clipping, a micro-batch that does not split evenly,
//     sharded evaluation): weights within 1e-6 relative, same losses and metrics;
//   * SIGUSR1 to mpirun: the ranks finish the step, write a checkpoint and exit
//     75; `--resume auto` then ends bit-identical to an uninterrupted 2-process run;
//   * a rank killed with SIGKILL mid-run ends the job with an error, not a hang;
//   * a rank that hangs (SIGSTOP) makes the other stop after runtime.comm_timeout_s;
//   * an error on one rank (its data file missing) ends every rank at once.
// [cuda] (scripts/gpu_check.sh runs them on a GPU machine; skipped here):
//   * NCCL in a world of one rank (id by file rendezvous): every collective;
//   * 2 processes on one GPU: NCCL refuses with a clear error (one GPU per rank),
//     MPI with CUDA tensors staged through host memory equals 1 process on it.
// Skipped, with a message, in a build without MPI or without mpirun.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <algorithm>
#include <fstream>
#include <map>
#include <thread>

#include "spt/comm/comm.h"
#include "src/comm/comm_impl.h"
#include "src/train/grad_sync.h"
#include "tests/cuda_required.h"
#include "spt/io/json_util.h"
#include "spt/io/safetensors.h"
#include "tests/train_util.h"

using namespace spt;
using namespace spt::test;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

std::string find_mpirun() {
  const char* path = std::getenv("PATH");
  std::string p = path ? path : "/usr/bin:/bin";
  size_t start = 0;
  while (start <= p.size()) {
    const size_t end = p.find(':', start);
    const fs::path cand = fs::path(p.substr(start, end - start)) / "mpirun";
    if (fs::exists(cand)) return cand.string();
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return "";
}

bool mpi_available() {
  if (!comm::have_mpi()) {
    WARN("skipped: this spt was built without MPI (install libopenmpi-dev, scripts/install_deps.sh)");
    return false;
  }
  if (find_mpirun().empty()) {
    WARN("skipped: no mpirun on PATH (install openmpi-bin, scripts/install_deps.sh)");
    return false;
  }
  return true;
}

// mpirun -np 2 spt-finetune ARGS, one thread per rank, output into `log`;
// with `args1`, rank 1 gets those arguments instead (MPMD: "A : B").
pid_t spawn_mpi(const std::vector<std::string>& args, const fs::path& log,
                const std::vector<std::string>& args1 = {}) {
  std::vector<std::string> all = {find_mpirun(), "--allow-run-as-root", "--oversubscribe", "--bind-to", "none",
                                  "-x", "SPT_NUM_THREADS=1", "-np", args1.empty() ? "2" : "1", SPT_FINETUNE_BIN};
  all.insert(all.end(), args.begin(), args.end());
  if (!args1.empty()) {
    all.insert(all.end(), {":", "-np", "1", SPT_FINETUNE_BIN});
    all.insert(all.end(), args1.begin(), args1.end());
  }
  return spawn_logged(all, log);  // its own group: a failing test can kill the whole job
}

// The pid of the spt-finetune process of `rank` started with `config` (other
// tests may run MPI jobs at the same time: CTest runs tests in parallel).
pid_t rank_pid(int rank, const std::string& config) {
  for (const auto& e : fs::directory_iterator("/proc")) {
    const std::string name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    const std::string env = read_text(e.path() / "environ");
    const std::string cmd = read_text(e.path() / "cmdline");
    if (cmd.find("spt-finetune") == std::string::npos || cmd.find("mpirun") != std::string::npos ||
        cmd.find(config) == std::string::npos)
      continue;
    const std::string key = std::string("OMPI_COMM_WORLD_RANK=") + std::to_string(rank);
    const size_t at = env.find(key);
    if (at != std::string::npos && (at == 0 || env[at - 1] == '\0') &&
        (at + key.size() == env.size() || env[at + key.size()] == '\0'))
      return static_cast<pid_t>(std::stol(name));
  }
  return -1;
}

// Every tensor of a safetensors file, by name.
std::map<std::string, std::vector<double>> load_all(const fs::path& file) {
  const io::SafetensorsReader r(file.string());
  std::map<std::string, std::vector<double>> out;
  for (const io::TensorInfo& ti : r.tensors()) out[ti.name] = r.load(ti.name).to_doubles();
  return out;
}

// ||a - b|| / ||a|| over all weights, and the largest of it over single tensors.
struct WeightDiff {
  double all = 0, worst_tensor = 0;
  std::string worst_name;
};

WeightDiff weight_diff(const fs::path& a, const fs::path& b) {
  const auto ta = load_all(a), tb = load_all(b);
  REQUIRE(ta.size() == tb.size());
  WeightDiff d;
  double num_all = 0, den_all = 0;
  for (const auto& [name, va] : ta) {
    REQUIRE(tb.count(name));
    const auto& vb = tb.at(name);
    REQUIRE(va.size() == vb.size());
    double num = 0, den = 0;
    for (size_t i = 0; i < va.size(); ++i) {
      num += (va[i] - vb[i]) * (va[i] - vb[i]);
      den += va[i] * va[i];
    }
    num_all += num;
    den_all += den;
    const double rel = std::sqrt(num / std::max(den, 1e-30));
    if (rel > d.worst_tensor) {
      d.worst_tensor = rel;
      d.worst_name = name;
    }
  }
  d.all = std::sqrt(num_all / std::max(den_all, 1e-30));
  return d;
}

// A tiny BERT with dropout, 100 training and 40 dev rows, global micro-batch 7
// (4 + 3 rows on 2 ranks) accumulated twice, clipping at 0.05 (every step clips).
io::Json dp_config(const fs::path& root, const std::string& out) {
  const fs::path model = fs::exists(root / "tiny-bert") ? root / "tiny-bert" : make_tiny_bert(root, 0.1);
  if (!fs::exists(root / "train.tsv")) {
    make_data(root / "train.tsv", 100, 3);
    make_data(root / "dev.tsv", 40, 4);
  }
  io::Json j = run_config(model, root / "train.tsv", root / out);
  j["data"]["dev"] = (root / "dev.tsv").string();
  j["train"]["batch_size"] = 14;
  j["train"]["grad_accumulation"] = 2;
  j["train"]["max_steps"] = 8;
  j["train"]["max_grad_norm"] = 0.05;
  j["eval"]["every_steps"] = 4;
  j["eval"]["batch_size"] = 8;
  j["runtime"]["bucket_mb"] = 0.02;  // 5,243 gradients per all-reduce: most start during backward
  return j;
}

// A 2-process run that would go on for 100000 steps, once it has taken 3.
pid_t start_endless_run(const fs::path& root, double comm_timeout_s) {
  io::Json j = dp_config(root, "run");
  j["train"]["max_steps"] = 100000;
  j["eval"]["every_steps"] = 0;
  j["runtime"]["comm_timeout_s"] = comm_timeout_s;
  const pid_t pid = spawn_mpi({"--config", write_config(root / "run.json", j)}, root / "run.log");
  wait_for_steps(root / "run" / "metrics.jsonl", 3);
  return pid;
}

}  // namespace

TEST_CASE("mpirun -np 2 trains as one process with the same global batch", "[distributed][mpi]") {
  if (!mpi_available()) return;
  const fs::path root = fresh_dir("dp_equal");
  const std::string bin = SPT_FINETUNE_BIN;
  const io::Json one = dp_config(root, "one"), two = dp_config(root, "two");
  io::Json zero = dp_config(root, "zero");
  zero["runtime"]["zero"] = 1;
  zero["logging"]["level"] = "info";
  REQUIRE(wait_exit(spawn({bin, "--config", write_config(root / "one.json", one)})) == 0);
  int rc = wait_exit_within(spawn_mpi({"--config", write_config(root / "two.json", two)}, root / "two.log"), 300);
  INFO(read_text(root / "two.log"));
  REQUIRE(rc == 0);
  rc = wait_exit_within(spawn_mpi({"--config", write_config(root / "zero.json", zero)}, root / "zero.log"), 300);
  INFO(read_text(root / "zero.log"));
  REQUIRE(rc == 0);
  CHECK(read_text(root / "zero.log").find("ZeRO-1: AdamW moments of") != std::string::npos);
  {
    // ZeRO-1 changes where AdamW runs, not what it computes: the same weights.
    const WeightDiff z = weight_diff(root / "two" / "final" / "model.safetensors",
                                     root / "zero" / "final" / "model.safetensors");
    INFO("ZeRO-1 vs plain data parallel: " << z.all << ", " << z.worst_tensor << " in " << z.worst_name);
    CHECK(z.all == 0);
  }
  // The runs differ by summation order only (each rank sums its rows' gradients).
  // A key projection's bias has a zero gradient in exact arithmetic (softmax is
  // shift invariant), so AdamW turns its rounding noise into full-size steps:
  // that tensor alone drifts to ~1e-6; every other tensor stays below 1e-7.
  const WeightDiff d = weight_diff(root / "one" / "final" / "model.safetensors",
                                   root / "two" / "final" / "model.safetensors");
  INFO("relative weight difference " << d.all << " over all weights, " << d.worst_tensor << " in "
                                     << d.worst_name);
  CHECK(d.all < 1e-6);
  CHECK(d.worst_tensor < 1e-5);
  CHECK(d.all > 0);  // two real runs that summed in different orders
  const auto la = records(root / "one" / "metrics.jsonl", "train"), lb = records(root / "two" / "metrics.jsonl", "train");
  REQUIRE(la.size() == 8);
  REQUIRE(lb.size() == 8);
  for (size_t i = 0; i < la.size(); ++i) CHECK(lb[i]["loss"].get<double>() == Approx(la[i]["loss"].get<double>()).epsilon(1e-5));
  {
    // --eval-only of the final model, sharded over 2 processes: rank 0 prints the whole set's metrics once.
    io::Json ev = dp_config(root, "ev");
    ev["model"]["path"] = (root / "one" / "final").string();
    const std::string cev = write_config(root / "ev.json", ev);
    const pid_t p1 = spawn_mpi({"--config", cev, "--eval-only"}, root / "ev2.log");
    REQUIRE(wait_exit_within(p1, 120) == 0);
    const std::string two_ranks = read_text(root / "ev2.log");
    INFO(two_ranks);
    const size_t at = two_ranks.find("accuracy\t");
    REQUIRE(at != std::string::npos);
    CHECK(two_ranks.find("accuracy\t", at + 1) == std::string::npos);
    const double acc2 = std::stod(two_ranks.substr(at + 9));
    const double acc1 = records(root / "one" / "metrics.jsonl", "eval").back()["accuracy"].get<double>();
    CHECK(acc2 == Approx(acc1).margin(1e-6));
  }
  const auto ea = records(root / "one" / "metrics.jsonl", "eval"), eb = records(root / "two" / "metrics.jsonl", "eval");
  REQUIRE(ea.size() == 2);
  REQUIRE(eb.size() == 2);
  for (size_t i = 0; i < ea.size(); ++i) {
    CHECK(eb[i]["accuracy"].get<double>() == ea[i]["accuracy"].get<double>());
    CHECK(eb[i]["loss"].get<double>() == Approx(ea[i]["loss"].get<double>()).epsilon(1e-5));
  }
  fs::remove_all(root);
}

TEST_CASE("SIGUSR1 to mpirun checkpoints and exits 75, --resume auto ends bit-identical", "[distributed][mpi]") {
  if (!mpi_available()) return;
  const fs::path root = fresh_dir("dp_signal");
  io::Json a = dp_config(root, "a");
  a["train"]["max_steps"] = 400;  // long enough that the signal comes first, also on a busy machine
  a["eval"]["every_steps"] = 0;
  io::Json b = a;
  b["output"]["dir"] = (root / "b").string();
  REQUIRE(wait_exit_within(spawn_mpi({"--config", write_config(root / "a.json", a)}, root / "a.log"), 300) == 0);
  const std::string cb = write_config(root / "b.json", b);
  const pid_t pid = spawn_mpi({"--config", cb, "--resume", "auto"}, root / "b.log");
  wait_for_steps(root / "b" / "metrics.jsonl", 5);  // signal once the run has taken a few steps
  kill(pid, SIGUSR1);
  const int rc = wait_exit_within(pid, 120);
  INFO(read_text(root / "b.log"));
  REQUIRE(rc == comm::kExitStopped);
  CHECK_FALSE(fs::exists(root / "b" / "final"));
  const auto stopped = records(root / "b" / "metrics.jsonl", "stopped");
  REQUIRE(stopped.size() == 1);
  const int64_t at = stopped[0]["step"].get<int64_t>();
  CHECK(at < 400);
  CHECK(fs::exists(root / "b" / str_cat("checkpoint-", at) / "spt_checkpoint.json"));
  REQUIRE(wait_exit_within(spawn_mpi({"--config", cb, "--resume", "auto"}, root / "b2.log"), 300) == 0);
  CHECK(file_bytes(root / "a" / "final" / "model.safetensors") == file_bytes(root / "b" / "final" / "model.safetensors"));
  fs::remove_all(root);
}

TEST_CASE("a rank killed mid-run ends the job with an error, not a hang", "[distributed][mpi]") {
  if (!mpi_available()) return;
  const fs::path root = fresh_dir("dp_kill");
  const pid_t pid = start_endless_run(root, 600);
  const pid_t victim = rank_pid(1, (root / "run.json").string());
  REQUIRE(victim > 0);
  kill(victim, SIGKILL);
  const int rc = wait_exit_within(pid, 60);
  INFO(read_text(root / "run.log"));
  CHECK(rc != -1);  // ended by itself
  CHECK(rc != 0);
  fs::remove_all(root);
}

TEST_CASE("an error on one rank ends every rank at once (MPI_Abort), not after the timeout", "[distributed][mpi]") {
  if (!mpi_available()) return;
  const fs::path root = fresh_dir("dp_error");
  io::Json good = dp_config(root, "run");
  io::Json bad = good;
  bad["data"]["dev"] = (root / "missing.tsv").string();  // rank 1 fails while reading its data, after MPI is up
  good["runtime"]["comm_timeout_s"] = bad["runtime"]["comm_timeout_s"] = 600;
  const auto t0 = Clock::now();
  const pid_t pid = spawn_mpi({"--config", write_config(root / "good.json", good)}, root / "run.log",
                              {"--config", write_config(root / "bad.json", bad)});
  const int rc = wait_exit_within(pid, 60);
  const std::string log = read_text(root / "run.log");
  INFO(log);
  CHECK(rc != -1);
  CHECK(rc != 0);
  CHECK(std::chrono::duration<double>(Clock::now() - t0).count() < 60);
  CHECK(log.find("missing.tsv") != std::string::npos);
  fs::remove_all(root);
}

TEST_CASE("a rank that hangs makes the others stop after runtime.comm_timeout_s", "[distributed][mpi]") {
  if (!mpi_available()) return;
  const fs::path root = fresh_dir("dp_hang");
  const pid_t pid = start_endless_run(root, 5);
  const pid_t victim = rank_pid(1, (root / "run.json").string());
  REQUIRE(victim > 0);
  kill(victim, SIGSTOP);
  const auto t0 = Clock::now();
  const int rc = wait_exit_within(pid, 90);
  const double waited = std::chrono::duration<double>(Clock::now() - t0).count();
  kill(victim, SIGKILL);  // when mpirun left it stopped
  const std::string log = read_text(root / "run.log");
  INFO(log);
  CHECK(rc != -1);
  CHECK(rc != 0);
  CHECK(waited >= 4.0);
  CHECK(log.find("[comm] rank 0 of 2") != std::string::npos);
  CHECK(log.find("runtime.comm_timeout_s") != std::string::npos);
  fs::remove_all(root);
}

TEST_CASE("a checkpoint resumes on another number of processes, ZeRO-1 moments re-sharded", "[distributed][mpi]") {
  if (!mpi_available()) return;
  const fs::path root = fresh_dir("dp_reshard");
  const std::string bin = SPT_FINETUNE_BIN;
  // A constant learning rate: a run stopped at step 4 and continued to 8 takes
  // the uninterrupted run's steps.
  auto cfg = [&](const std::string& out, int64_t steps, int zero) {
    io::Json j = dp_config(root, out);
    j["train"]["max_steps"] = steps;
    j["train"]["scheduler"] = "constant";
    j["train"]["warmup_steps"] = 0;
    j["eval"]["every_steps"] = 0;
    j["output"]["save_every_steps"] = 4;
    j["runtime"]["zero"] = zero;
    j["logging"]["level"] = "info";
    return write_config(root / (out + std::to_string(steps) + ".json"), j);
  };
  REQUIRE(wait_exit(spawn({bin, "--config", cfg("one", 8, 0)})) == 0);
  // 2 processes with ZeRO-1 to step 4, then 1 process from its checkpoint.
  REQUIRE(wait_exit_within(spawn_mpi({"--config", cfg("z2", 4, 1)}, root / "z2.log"), 300) == 0);
  REQUIRE(wait_exit(spawn({bin, "--config", cfg("z2", 8, 0), "--resume", (root / "z2" / "checkpoint-4").string()})) == 0);
  // 1 process to step 4, then 2 processes with ZeRO-1 from its checkpoint.
  fs::create_directories(root / "z1");
  fs::copy(root / "one" / "checkpoint-4", root / "z1" / "checkpoint-4", fs::copy_options::recursive);
  REQUIRE(wait_exit_within(spawn_mpi({"--config", cfg("z1", 8, 1), "--resume", "auto"}, root / "z1.log"), 300) == 0);
  INFO(read_text(root / "z1.log"));
  CHECK(read_text(root / "z1.log").find("resumed from") != std::string::npos);
  for (const char* run : {"z2", "z1"}) {
    const WeightDiff d = weight_diff(root / "one" / "final" / "model.safetensors", root / run / "final" / "model.safetensors");
    INFO(run << ": relative weight difference " << d.all << " over all weights, " << d.worst_tensor << " in "
              << d.worst_name);
    CHECK(d.all < 1e-6);
    CHECK(d.worst_tensor < 1e-5);
  }
  fs::remove_all(root);
}

TEST_CASE("NCCL in a one-rank world: every collective on CUDA and host data", "[distributed][cuda]") {
  if (!comm::have_nccl()) {
    WARN("skipped: this spt was built without NCCL");
    return;
  }
  if (!cuda_available_for_test("NCCL collectives")) return;
  const fs::path root = fresh_dir("nccl_one");
  comm::World w;  // rank 0 of 1: the file rendezvous path
  const std::unique_ptr<comm::Communicator> c = comm::make_nccl_comm(w, 0, nullptr, (root / "rdv").string(), 60);
  CHECK(std::string(c->backend()) == "nccl");
  CHECK(!fs::is_empty(root / "rdv"));  // rank 0 left the id there
  const Device dev = Device::cuda(0);
  Tensor t = Tensor::from_doubles({1.5, -2.0, 3.25}, {3}, DType::f32).to(dev);
  c->all_reduce(t, comm::ReduceOp::sum);
  CHECK(t.to_doubles() == std::vector<double>{1.5, -2.0, 3.25});
  Tensor cpu = Tensor::from_doubles({4.0, 5.0}, {2}, DType::f32);  // a host tensor through the GPU
  c->all_reduce(cpu, comm::ReduceOp::max);
  CHECK(cpu.to_doubles() == std::vector<double>{4.0, 5.0});
  std::vector<double> host = {0.25, 7.0};
  c->all_reduce(std::span<double>(host), comm::ReduceOp::sum);
  CHECK(host == std::vector<double>{0.25, 7.0});
  std::vector<int64_t> ints = {3, -9};
  c->all_reduce(std::span<int64_t>(ints), comm::ReduceOp::sum);
  CHECK(ints == std::vector<int64_t>{3, -9});
  std::string s = "metrics {\"a\": 1}";
  c->broadcast(s, 0);
  CHECK(s == "metrics {\"a\": 1}");
  Tensor flat = Tensor::from_doubles({1, 2, 3, 4, 5}, {5}, DType::f32).to(dev);
  const std::vector<int64_t> offsets = {0, 5};
  c->all_gather_segments(flat, offsets);
  CHECK(flat.to_doubles() == std::vector<double>{1, 2, 3, 4, 5});
  const std::vector<double> mine = {9.0, 8.0, 7.0};
  CHECK(c->all_gather(mine) == mine);
  c->barrier();
  fs::remove_all(root);
}

TEST_CASE("2 processes on one GPU: NCCL refuses clearly, MPI with staged CUDA tensors equals 1 process",
          "[distributed][cuda]") {
  if (!mpi_available() || !cuda_available_for_test("2 processes on one GPU")) return;
  const fs::path root = fresh_dir("dp_one_gpu");
  const std::string bin = SPT_FINETUNE_BIN;
  auto cfg = [&](const std::string& out, const std::string& backend) {
    io::Json j = dp_config(root, out);
    j["runtime"]["device"] = "cuda:0";
    j["runtime"]["comm"] = backend;
    return write_config(root / (out + ".json"), j);
  };
  REQUIRE(wait_exit(spawn({bin, "--config", cfg("one", "auto")})) == 0);
  REQUIRE(wait_exit_within(spawn_mpi({"--config", cfg("mpi", "mpi")}, root / "mpi.log"), 300) == 0);
  const WeightDiff d = weight_diff(root / "one" / "final" / "model.safetensors", root / "mpi" / "final" / "model.safetensors");
  INFO("relative weight difference " << d.all << " over all weights, " << d.worst_tensor << " in " << d.worst_name);
  CHECK(d.all < 1e-6);
  if (comm::have_nccl()) {
    const int rc = wait_exit_within(spawn_mpi({"--config", cfg("nccl", "nccl")}, root / "nccl.log"), 120);
    const std::string log = read_text(root / "nccl.log");
    INFO(log);
    CHECK(rc != 0);
    CHECK(rc != -1);
    CHECK(log.find("each rank needs its own GPU") != std::string::npos);
  }
  fs::remove_all(root);
}

namespace {

// Records the ranges of the flat gradient buffer each started all-reduce covers.
struct RecordingComm final : comm::Communicator {
  explicit RecordingComm(const Tensor& flat) : Communicator(comm::World{}), base(flat.data<float>()) {}
  const char* backend() const override { return "recording"; }
  void all_reduce_start(Tensor& t) override {
    const int64_t b = t.data<float>() - base;
    started.push_back({b, b + t.numel()});
  }
  void wait_pending() override { ++waits; }
  void all_reduce(Tensor&, comm::ReduceOp) override {}
  void all_reduce(std::span<double>, comm::ReduceOp) override {}
  void all_reduce(std::span<int64_t>, comm::ReduceOp) override {}
  void broadcast(Tensor&, int) override {}
  void broadcast(std::string&, int) override {}
  void all_gather_segments(Tensor&, std::span<const int64_t>) override {}
  std::vector<double> all_gather(std::span<const double> m) override { return {m.begin(), m.end()}; }
  void barrier() override {}
  const float* base;
  std::vector<std::pair<int64_t, int64_t>> started;
  int waits = 0;
};

}  // namespace

TEST_CASE("gradient buckets start as the blocks holding them finish backward, in one fixed order",
          "[distributed]") {
  const TinyCase tc = tiny_case("bert", 2, 5, 3);
  ParameterStore ps(model::model_param_infos(tc.cfg, tc.head, model::ModelOptions{}), Device::cpu());
  // Which block each trainable element belongs to (-1: outside blocks).
  const int64_t n = ps.num_trainable();
  std::vector<int64_t> block(static_cast<size_t>(n), -2);
  for (const ParamInfo& p : ps.infos()) {
    const int64_t off = ps.grad(p.name).data<float>() - ps.flat_grads().data<float>();
    const int64_t blk = p.name.rfind("layers.0.", 0) == 0 ? 0 : p.name.rfind("layers.1.", 0) == 0 ? 1 : -1;
    for (int64_t i = 0; i < shape_numel(p.shape); ++i) block[static_cast<size_t>(off + i)] = blk;
  }
  REQUIRE(std::count(block.begin(), block.end(), -2) == 0);
  RecordingComm rc(ps.flat_grads());
  train::GradSync sync(ps, rc, 700);  // small buckets: many, some inside one block
  REQUIRE(sync.buckets() > 10);
  auto covered_once = [&](const std::vector<std::pair<int64_t, int64_t>>& ranges) {
    std::vector<int> hits(static_cast<size_t>(n), 0);
    for (const auto& [b, e] : ranges)
      for (int64_t i = b; i < e; ++i) ++hits[static_cast<size_t>(i)];
    return std::all_of(hits.begin(), hits.end(), [](int h) { return h == 1; });
  };
  // The last micro-batch: block 1 finishes first, then block 0, then the rest.
  sync.arm();
  sync.block_done(1);
  const size_t after1 = rc.started.size();
  sync.block_done(0);
  const size_t after0 = rc.started.size();
  sync.finish();
  CHECK(rc.waits == 1);
  CHECK(after1 > 0);
  CHECK(after0 > after1);
  CHECK(rc.started.size() > after0);  // embeddings, pooler, classifier: at the end
  CHECK(covered_once(rc.started));
  for (size_t k = 0; k < rc.started.size(); ++k) {
    const auto [b, e] = rc.started[k];
    for (int64_t i = b; i < e; ++i) {
      const int64_t blk = block[static_cast<size_t>(i)];
      INFO("bucket " << k << " element " << i << " block " << blk);
      if (k < after1) REQUIRE(blk == 1);                        // only what block 1's backward completed
      else if (k < after0) REQUIRE((blk == 0 || blk == 1));
    }
  }
  // A rank with no rows in the last micro-batch (no block reports) starts the
  // same buckets in the same order from finish().
  const auto first_order = rc.started;
  rc.started.clear();
  sync.arm();
  sync.finish();
  CHECK(rc.started == first_order);
  // Not armed (a step's earlier micro-batches): nothing starts during backward.
  rc.started.clear();
  sync.block_done(1);
  CHECK(rc.started.empty());
}
