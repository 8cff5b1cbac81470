// Faults a long run meets, on spt-finetune itself (a tiny random BERT):
//   * the disk fills up while a checkpoint is written (an LD_PRELOAD shim makes
//     write() fail with ENOSPC past a byte budget): a clear error naming the file,
//     no half checkpoint, the previous one intact, and --resume from it ends
//     bit-identical to an uninterrupted run;
//   * SIGINT (Ctrl-C): the step finishes, a checkpoint is written, exit 75, and
//     --resume ends bit-identical;
//   * checkpoints truncated or bit-flipped after saving: an explicit --resume
//     names the file, --resume alone falls back to the newest intact checkpoint
//     (saying so) and still ends bit-identical;
//   * runtime.memory_limit_mb: an allocation past it is a clear error with the
//     requested and available bytes, from the library and from the CLI;
//   * resource limits on hostile input (JSON nesting, vocabulary ids, config
//     sizes, line lengths): clear errors before anything large is allocated.
#include <signal.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "spt/backend/backend.h"
#include "spt/comm/comm.h"
#include "spt/core/error.h"
#include "spt/io/checkpoint.h"
#include "spt/io/checksum.h"
#include "spt/io/gguf_import.h"
#include "src/io/pickle.h"
#include "spt/data/table_dataset.h"
#include "spt/tokenize/tokenizer.h"
#include "tests/train_util.h"

using namespace spt;
using namespace spt::test;
namespace fs = std::filesystem;

namespace {

// A run of 30 steps with checkpoints every 10 (all kept), dropout on.
io::Json fault_config(const fs::path& root, const std::string& out) {
  const fs::path model = fs::exists(root / "tiny-bert") ? root / "tiny-bert" : make_tiny_bert(root, 0.1);
  if (!fs::exists(root / "train.tsv")) make_data(root / "train.tsv", 100, 1);
  io::Json j = run_config(model, root / "train.tsv", root / out);
  j["output"]["save_every_steps"] = 10;
  j["output"]["keep_last"] = 5;
  return j;
}

uint64_t folder_bytes(const fs::path& dir) {
  uint64_t n = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file()) n += e.file_size();
  return n;
}

// The uninterrupted run every faulty one is compared with (written once per root).
fs::path reference_run(const fs::path& root) {
  if (!fs::exists(root / "ref" / "final" / "model.safetensors")) {
    const std::string cfg = write_config(root / "ref.json", fault_config(root, "ref"));
    REQUIRE(wait_exit_within(spawn_logged({SPT_FINETUNE_BIN, "--config", cfg}, root / "ref.log"), 300) == 0);
  }
  return root / "ref";
}

bool same_final(const fs::path& a, const fs::path& b) {
  const auto wa = file_bytes(a / "final" / "model.safetensors");
  return !wa.empty() && wa == file_bytes(b / "final" / "model.safetensors");
}

// The environment that puts the full-disk shim in front of libc (a sanitizer
// runtime, when there is one, accepts not coming first).
std::vector<std::pair<std::string, std::string>> full_disk_env(const std::string& path_part, uint64_t budget) {
  const char* asan = std::getenv("ASAN_OPTIONS");
  return {{"LD_PRELOAD", SPT_ENOSPC_SHIM},
          {"SPT_FAULT_ENOSPC_PATH", path_part},
          {"SPT_FAULT_ENOSPC_AFTER", std::to_string(budget)},
          {"ASAN_OPTIONS", std::string(asan ? asan : "") + ":verify_asan_link_order=0"}};
}

void flip_byte(const fs::path& p, uint64_t at) {
  std::fstream f(p, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(static_cast<std::streamoff>(at));
  char c = 0;
  f.read(&c, 1);
  c = static_cast<char>(c ^ 0x10);
  f.seekp(static_cast<std::streamoff>(at));
  f.write(&c, 1);
}

}  // namespace

TEST_CASE("CRC-32C gives the standard check value on the hardware and table paths", "[faults][checksum]") {
  for (auto* f : {&io::crc32c, &io::crc32c_portable}) {
    CHECK(f(0, "123456789", 9) == 0xE3069283u);
    // Chained in pieces of every split = in one go.
    const std::string s = "The quick brown fox jumps over the lazy dog, twice over: the quick brown fox.";
    const uint32_t whole = f(0, s.data(), s.size());
    CHECK(whole == io::crc32c_portable(0, s.data(), s.size()));
    for (size_t cut = 0; cut <= s.size(); ++cut) CHECK(f(f(0, s.data(), cut), s.data() + cut, s.size() - cut) == whole);
    CHECK(f(0, "", 0) == 0u);
  }
  CHECK(io::crc_hex(0xE3069283u) == "e3069283");
}

TEST_CASE("disk full while writing a checkpoint: clear error, previous checkpoint intact, resume bit-identical",
          "[faults][disk]") {
  const fs::path root = fresh_dir("fault_disk_full");
  const fs::path ref = reference_run(root);
  const uint64_t one = folder_bytes(ref / "checkpoint-10");
  REQUIRE(one > 0);
  // Room for checkpoint-10 and half of checkpoint-20.
  const std::string cfg = write_config(root / "b.json", fault_config(root, "b"));
  const int rc = wait_exit_within(
      spawn_logged({SPT_FINETUNE_BIN, "--config", cfg}, root / "b.log", full_disk_env("/b/checkpoint-", one + one / 2)),
      300);
  const std::string log = read_text(root / "b.log");
  INFO(log);
  CHECK(rc == 1);
  CHECK(log.find("No space left on device") != std::string::npos);
  CHECK(log.find("checkpoint-20") != std::string::npos);
  CHECK(log.find("hint: check the free disk space") != std::string::npos);
  // No half checkpoint: neither the folder nor its temporary remains.
  CHECK_FALSE(fs::exists(root / "b" / "checkpoint-20"));
  for (const auto& e : fs::directory_iterator(root / "b"))
    CHECK(e.path().filename().string().find(".tmp-") == std::string::npos);
  CHECK(io::checkpoint_problem((root / "b" / "checkpoint-10").string()).empty());
  // With space again, --resume continues from checkpoint-10.
  const int rc2 = wait_exit_within(
      spawn_logged({SPT_FINETUNE_BIN, "--config", cfg, "--resume", "--set", "logging.level=info"}, root / "b2.log"), 300);
  INFO(read_text(root / "b2.log"));
  REQUIRE(rc2 == 0);
  CHECK(read_text(root / "b2.log").find("resumed from " + (root / "b" / "checkpoint-10").string()) != std::string::npos);
  CHECK(same_final(ref, root / "b"));
  fs::remove_all(root);
}

namespace {

// Signals a run after 5 steps: exit 75, a checkpoint at the step it stopped,
// and --resume ends as the uninterrupted run.
void check_stop_signal(int sig, const std::string& tag) {
  const fs::path root = fresh_dir("fault_signal_" + tag);
  io::Json a = fault_config(root, "a");
  a["train"]["max_steps"] = 400;  // long enough that the signal comes first, also on a busy machine
  a["output"]["save_every_steps"] = 0;
  io::Json b = a;
  b["output"]["dir"] = (root / "b").string();
  REQUIRE(wait_exit_within(spawn_logged({SPT_FINETUNE_BIN, "--config", write_config(root / "a.json", a)},
                                        root / "a.log"), 300) == 0);
  const std::string cb = write_config(root / "b.json", b);
  const pid_t pid = spawn_logged({SPT_FINETUNE_BIN, "--config", cb}, root / "b.log");
  wait_for_steps(root / "b" / "metrics.jsonl", 5);
  kill(pid, sig);
  const int rc = wait_exit_within(pid, 120);
  INFO(read_text(root / "b.log"));
  REQUIRE(rc == comm::kExitStopped);
  if (sig == SIGINT) CHECK(read_text(root / "b.log").find("Ctrl-C again") != std::string::npos);
  const auto stopped = records(root / "b" / "metrics.jsonl", "stopped");
  REQUIRE(stopped.size() == 1);
  const int64_t at = stopped[0]["step"].get<int64_t>();
  CHECK(at < 400);
  CHECK(io::checkpoint_problem((root / "b" / str_cat("checkpoint-", at)).string()).empty());
  REQUIRE(wait_exit_within(spawn_logged({SPT_FINETUNE_BIN, "--config", cb, "--resume"}, root / "b2.log"), 300) == 0);
  CHECK(same_final(root / "a", root / "b"));
  fs::remove_all(root);
}

}  // namespace

TEST_CASE("SIGINT finishes the step, writes a checkpoint and exits 75, and --resume ends bit-identical",
          "[faults][signals]") {
  check_stop_signal(SIGINT, "int");
}

TEST_CASE("SIGTERM in a single process finishes the step, writes a checkpoint and exits 75", "[faults][signals]") {
  check_stop_signal(SIGTERM, "term");
}

TEST_CASE("a second SIGINT quits at once", "[faults][signals]") {
  const fs::path root = fresh_dir("fault_sigint2");
  io::Json a = fault_config(root, "a");
  a["train"]["max_steps"] = 100000;
  a["output"]["save_every_steps"] = 0;
  const std::string cfg = write_config(root / "a.json", a);
  // The first SIGINT asks for a checkpoint at the step's end; the run is frozen
  // (SIGSTOP) as soon as it says so, gets the second while frozen, and must die
  // of it when it continues. When the step (and the checkpoint) won the race
  // before the freeze, the attempt is repeated.
  int rc = -1;
  for (int attempt = 0; attempt < 5 && rc != 128 + SIGINT; ++attempt) {
    fs::remove_all(root / "a");
    const pid_t pid = spawn_logged({SPT_FINETUNE_BIN, "--config", cfg}, root / "a.log");
    wait_for_steps(root / "a" / "metrics.jsonl", 3);
    kill(pid, SIGINT);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (read_text(root / "a.log").find("Ctrl-C again") == std::string::npos &&
           std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    kill(pid, SIGSTOP);
    int status = 0;
    if (waitpid(pid, &status, WNOHANG | WUNTRACED) == pid && !WIFSTOPPED(status)) {
      rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);  // ended before the freeze
      INFO("attempt " << attempt << " ended first with " << rc);
      CHECK(rc == comm::kExitStopped);
      continue;
    }
    kill(pid, SIGINT);
    kill(pid, SIGCONT);
    rc = wait_exit_within(pid, 60);
    INFO(read_text(root / "a.log"));
    CHECK(rc == 128 + SIGINT);
  }
  CHECK(rc == 128 + SIGINT);
  fs::remove_all(root);
}

TEST_CASE("checkpoints damaged after saving are named, and --resume falls back to the newest intact one",
          "[faults][checksum]") {
  const fs::path root = fresh_dir("fault_damaged");
  const fs::path ref = reference_run(root);
  // The reference run's checkpoints, 30 with a flipped bit and 20 truncated:
  // --resume must take 10 and redo the rest.
  const fs::path b = root / "b";
  fs::create_directories(b);
  for (const char* c : {"checkpoint-10", "checkpoint-20", "checkpoint-30"})
    fs::copy(ref / c, b / c, fs::copy_options::recursive);
  const fs::path flipped = b / "checkpoint-30" / "model.safetensors";
  flip_byte(flipped, fs::file_size(flipped) / 2);
  const fs::path cut = b / "checkpoint-20" / "trainer_state" / "tensors.safetensors";
  fs::resize_file(cut, fs::file_size(cut) - 100);

  const std::string p30 = io::checkpoint_problem((b / "checkpoint-30").string());
  CHECK(p30.find("model.safetensors") != std::string::npos);
  CHECK(p30.find("CRC-32C") != std::string::npos);
  const std::string p20 = io::checkpoint_problem((b / "checkpoint-20").string());
  CHECK(p20.find("tensors.safetensors") != std::string::npos);
  CHECK(p20.find("truncated") != std::string::npos);
  CHECK_THROWS_WITH(io::load_checkpoint((b / "checkpoint-30").string()),
                    Catch::Contains("model.safetensors") && Catch::Contains("CRC-32C"));

  io::Json j = fault_config(root, "b");
  const std::string cfg = write_config(root / "b.json", j);
  // Explicitly: an error naming the file.
  const int rc1 = wait_exit_within(
      spawn_logged({SPT_FINETUNE_BIN, "--config", cfg, "--resume", (b / "checkpoint-30").string()}, root / "b1.log"), 300);
  const std::string log1 = read_text(root / "b1.log");
  INFO(log1);
  CHECK(rc1 == 1);
  CHECK(log1.find("checkpoint-30/model.safetensors") != std::string::npos);
  // --resume alone: checkpoint-10, saying why not 30 and 20; ends as the reference.
  const int rc2 = wait_exit_within(spawn_logged({SPT_FINETUNE_BIN, "--config", cfg, "--resume"}, root / "b2.log"), 300);
  const std::string log2 = read_text(root / "b2.log");
  INFO(log2);
  REQUIRE(rc2 == 0);
  CHECK(log2.find("skipping damaged checkpoint") != std::string::npos);
  CHECK(log2.find("newest intact checkpoint") != std::string::npos);
  CHECK(same_final(ref, b));
  // The damaged ones were moved aside, out of the rotation.
  CHECK(fs::exists(b / "checkpoint-30.damaged" / "model.safetensors"));
  CHECK(fs::exists(b / "checkpoint-20.damaged"));
  CHECK(io::checkpoint_problem((b / "checkpoint-30").string()).empty());
  // Every checkpoint damaged: --resume stops instead of starting afresh.
  const fs::path c = root / "c";
  fs::create_directories(c);
  fs::copy(b / "checkpoint-30.damaged", c / "checkpoint-30", fs::copy_options::recursive);
  io::Json jc = fault_config(root, "c");
  const int rc3 = wait_exit_within(spawn_logged({SPT_FINETUNE_BIN, "--config", write_config(root / "c.json", jc),
                                                 "--resume", "auto"}, root / "c.log"), 300);
  INFO(read_text(root / "c.log"));
  CHECK(rc3 == 1);
  CHECK(read_text(root / "c.log").find("every checkpoint in") != std::string::npos);
  fs::remove_all(root);
}

TEST_CASE("a checkpoint marker without checksums (older spt) still loads, and a missing file is named",
          "[faults][checksum]") {
  const fs::path root = fresh_dir("fault_old_marker");
  const fs::path ref = reference_run(root);
  const fs::path c = root / "c";
  fs::copy(ref / "checkpoint-10", c, fs::copy_options::recursive);
  io::Json m = io::read_json_file((c / io::kCheckpointMarker).string(), "test");
  REQUIRE(m.contains("crc32c"));
  m.erase("crc32c");
  std::ofstream(c / io::kCheckpointMarker) << m.dump(2);
  CHECK(io::checkpoint_problem(c.string()).empty());
  CHECK_NOTHROW(io::load_checkpoint(c.string()));
  fs::remove(c / "config.json");
  CHECK_THAT(io::checkpoint_problem(c.string()), Catch::Contains("config.json is missing"));
  fs::remove_all(root);
}

TEST_CASE("runtime.memory_limit_mb: an allocation past it is a clear error, in the library and the CLI",
          "[faults][memory]") {
  const fs::path root = fresh_dir("fault_memory");
  io::Json j = fault_config(root, "a");
  j["runtime"]["memory_limit_mb"] = 1;  // the tiny model's weights alone take more
  j["train"]["batch_size"] = 64;
  const std::string cfg = write_config(root / "a.json", j);
  const int rc = wait_exit_within(spawn_logged({SPT_FINETUNE_BIN, "--config", cfg}, root / "a.log"), 300);
  const std::string log = read_text(root / "a.log");
  INFO(log);
  CHECK(rc == 1);
  CHECK(log.find("out of memory") != std::string::npos);
  CHECK(log.find("runtime.memory_limit_mb = 1") != std::string::npos);
  CHECK(log.find("bytes are available") != std::string::npos);
  // The allocator's own limit, and its release.
  Allocator& a = default_allocator(Device::cpu());
  a.set_limit(size_t{1} << 20);
  CHECK_THROWS_WITH(Tensor::empty({1 << 20}, DType::f32),
                    Catch::Contains("allocating 4194304 bytes") && Catch::Contains("limit of 1048576 bytes"));
  a.set_limit(0);
  CHECK_NOTHROW(Tensor::empty({1 << 20}, DType::f32));
  fs::remove_all(root);
}

TEST_CASE("small hostile files meet resource limits with clear errors, before large allocations", "[faults][limits]") {
  const fs::path root = fresh_dir("fault_limits");
  // JSON nested past kMaxJsonDepth: an spt config, a model config, a tokenizer file.
  const std::string deep = std::string(5000, '[') + std::string(5000, ']');
  std::ofstream(root / "deep.json") << "{\"train\": " << deep << "}";
  CHECK_THROWS_WITH(train::load_config((root / "deep.json").string()),
                    Catch::Contains("nest more than 100 deep") && Catch::Contains("line 1, column"));
  CHECK_THROWS_WITH(io::parse_json_strict("{\"a\": " + deep + "}", "[config] x.json"),
                    Catch::Contains("[config] x.json") && Catch::Contains("nest more than 100 deep"));
  fs::create_directories(root / "tok");
  std::ofstream(root / "tok" / "tokenizer.json") << "{\"model\": " << deep << "}";
  CHECK_THROWS_WITH(tokenize::load_tokenizer(root / "tok"), Catch::Contains("nest more than 100 deep"));
  // A number past double's range (found by fuzzing): an error naming the file, not a library exception.
  CHECK_THROWS_WITH(io::parse_json_strict("{\"layer_norm_eps\": 1e405}", "[config] y.json"),
                    Catch::Contains("[config] y.json is not valid JSON") && Catch::Contains("1e405"));
  // A byte-level BPE vocabulary claiming an id of 2^30 (tables of that size are never allocated).
  fs::create_directories(root / "bpe");
  std::ofstream(root / "bpe" / "vocab.json") << "{\"a\": 0, \"b\": 1073741824}";
  std::ofstream(root / "bpe" / "merges.txt") << "#version: 0.2\na b\n";
  CHECK_THROWS_WITH(tokenize::load_tokenizer(root / "bpe"),
                    Catch::Contains("1073741824") && Catch::Contains("largest vocabulary"));
  // A model config whose sizes no model has.
  io::Json cfg = io::read_json_file((test::fixtures_dir() / "models" / "bert_base" / "config.json").string(), "t");
  cfg["vocab_size"] = int64_t{1} << 40;
  CHECK_THROWS_WITH(io::parse_model_config(cfg, "big/config.json"),
                    Catch::Contains("\"vocab_size\" = 1099511627776 is larger than any model"));
  // Inputs the fuzzers found (fuzz/regressions), each now a clear error:
  const fs::path reg = fs::path(SPT_SOURCE_DIR) / "fuzz" / "regressions";
  {  // a pickle that puts a dict inside itself (leaked: shared ownership in a cycle)
    std::ifstream in(reg / "torch_bin" / "pickle_reference_cycle", std::ios::binary);
    const std::string bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    REQUIRE(bytes.size() > 1);
    CHECK_THROWS_WITH(io::unpickle(reinterpret_cast<const unsigned char*>(bytes.data()) + 1, bytes.size() - 1, "p"),
                      Catch::Contains("reference cycle"));
  }
  // a GGUF whose block_count no tensor table holds (took 10 s building the expected names)
  CHECK_THROWS_WITH(io::open_gguf_model((reg / "gguf" / "block_count_huge.gguf").string()),
                    Catch::Contains("block_count") || Catch::Contains("larger than any model"));
  // a --set value that is not UTF-8 (escaped as a JSON library exception)
  std::ofstream(root / "empty.json") << "{}";
  CHECK_THROWS_WITH(train::load_config((root / "empty.json").string(), {"lora.enabled=true\xcc" "8"}),
                    Catch::Contains("not valid UTF-8"));
  // A data line over 16 MiB: an error naming the file and line.
  {
    std::ofstream t(root / "long.tsv");
    t << "text\tlabel\nshort\tpos\n" << std::string((size_t{16} << 20) + 10, 'x') << "\tneg\n";
  }
  data::TableOptions o;
  o.label_names = {"neg", "pos"};
  CHECK_THROWS_WITH(data::read_table(root / "long.tsv", o),
                    Catch::Contains("long.tsv:3") && Catch::Contains("more than the limit"));
  fs::remove_all(root);
}
