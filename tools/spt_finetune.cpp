// spt-finetune: fine-tunes a BERT or GPT-2 checkpoint as a JSON config says.
//
//   spt-finetune --config FILE [--set key.path=value ...] [--resume [DIR]]
//                [--dry-run] [--eval-only] [--config-reference]
//
// Several processes: start it under mpirun (or srun + mpirun in a Slurm job);
// see docs/distributed.md. Rank 0 logs and writes; the others log warnings only.
//
// Exit codes: 0 success; 1 any error (the message names the file, key or row);
// 2 bad command line; 74 a collective timed out (another rank died or hangs);
// 75 stopped by SIGTERM / SIGUSR1 after writing a checkpoint (resume it: the
// Slurm scripts requeue the job on 75).
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <new>

#include "spt/comm/comm.h"
#include "spt/core/runtime.h"
#include "spt/train/config.h"
#include "spt/train/trainer.h"

using namespace spt;

namespace {

// Threads per process: the config's, else SPT_NUM_THREADS, else the cores this
// process may use, shared with the other ranks of the node when the launcher did
// not bind each rank to its own cores.
int default_threads(int configured, const comm::World& w) {
  if (configured > 0 || w.local_size <= 1 || std::getenv("SPT_NUM_THREADS") != nullptr) return configured;
  const int usable = omp_get_num_procs();
  const long online = sysconf(_SC_NPROCESSORS_ONLN);
  if (usable < online) return configured;  // bound by mpirun / Slurm: already this rank's share
  return std::max(1, usable / w.local_size);
}

}  // namespace

int main(int argc, char** argv) {
  train::install_stop_signals();  // from the start: a SIGUSR1 during set-up stops after the first step
  select_blas_kernel(argv);
  CLI::App app{"spt-finetune: fine-tune a Transformer checkpoint from a JSON config"};
  std::string config_path;
  std::vector<std::string> sets;
  std::string resume;
  bool dry_run = false, eval_only = false, reference = false;
  app.add_option("--config", config_path, "JSON config (see docs/config.md)");
  app.add_option("--set", sets, "override a config key: --set train.learning_rate=3e-5 (repeatable)");
  app.add_option("--resume", resume,
                 "resume from the latest checkpoint in output.dir, or from DIR; 'auto': the latest if there is one, "
                 "else start (batch jobs that may be requeued)")
      ->expected(0, 1)
      ->default_str("latest");
  app.add_flag("--dry-run", dry_run, "print the resolved config and the plan, then exit");
  app.add_flag("--eval-only", eval_only, "evaluate the model on the eval set(s) and exit");
  app.add_flag("--config-reference", reference, "print the config reference (docs/config.md) and exit");
  CLI11_PARSE(app, argc, argv);
  if (reference) {
    std::fputs(train::config_reference_markdown().c_str(), stdout);
    return 0;
  }
  if (config_path.empty()) {
    std::fprintf(stderr, "spt-finetune: --config FILE is required (see --help)\n");
    return 2;
  }
  // CLI11 gives "" for a bare --resume.
  if (app.count("--resume") > 0 && resume.empty()) resume = "latest";
  try {
    const train::ResolvedConfig cfg = train::load_config(config_path, sets);
    spdlog::set_level(spdlog::level::from_str(cfg.str("logging.level")));
    const comm::World world = comm::detect_world();
    if (world.size > 1) {
      spdlog::set_pattern(fmt::format("[%Y-%m-%d %H:%M:%S.%e] [rank {}] [%l] %v", world.rank));
      if (world.rank != 0) spdlog::set_level(std::max(spdlog::get_level(), spdlog::level::warn));
    }
    init_threads(default_threads(static_cast<int>(cfg.integer("runtime.threads")), world));
    spdlog::info("{}", runtime_summary());
    train::Trainer trainer(cfg);
    const bool root = world.rank == 0;  // several processes: rank 0 prints
    if (dry_run) {
      if (root)
        std::printf("resolved config (%s):\n%s\n\nplan:\n%s", cfg.source.c_str(), cfg.values.dump(2).c_str(),
                  trainer.plan().c_str());
      comm::finalize();
      return 0;
    }
    spdlog::info("plan:\n{}", trainer.plan());
    if (eval_only) {
      for (const auto& [k, v] : trainer.evaluate())
        if (root) std::printf("%s\t%.6f\n", k.c_str(), v);
      comm::finalize();
      return 0;
    }
    const train::RunSummary s = trainer.train(resume);
    if (s.stopped) {
      comm::finalize();
      return comm::kExitStopped;
    }
    spdlog::info("done: {} steps in {:.1f} s; best {} = {:.4f} at step {}", s.steps, s.seconds, s.metric,
                 s.best_metric, s.best_step);
    if (!s.best_checkpoint.empty()) spdlog::info("best model: {}", s.best_checkpoint);
    if (!s.final_model.empty()) spdlog::info("final model: {}", s.final_model);
    spdlog::info("metrics: {}", s.metrics_file);
  } catch (const std::exception& e) {
    if (dynamic_cast<const std::bad_alloc*>(&e) != nullptr)
      spdlog::error("out of host memory (the C++ library could not allocate: {}); hint: reduce train.batch_size "
                    "or tokenizer.max_length, or free memory on the machine", e.what());
    else
      spdlog::error("{}", e.what());
    spdlog::default_logger()->flush();
    // Several processes: the others may wait in a collective; end them all now.
    bool several = false;
    try {
      several = comm::detect_world().size > 1;
    } catch (const std::exception&) {
    }
    if (several) comm::abort_world(1);
    return 1;
  }
  comm::finalize();
  return 0;
}
