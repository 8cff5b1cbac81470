// The world from the launcher's environment, the single-process communicator,
// the run's communicator, and the collective watchdog.
#include "spt/comm/comm.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <mutex>

#include "spt/core/error.h"
#include "src/comm/comm_impl.h"

namespace spt::comm {

namespace {

// An integer environment variable, or -1 when unset; malformed values are refused.
int env_int(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return -1;
  char* end = nullptr;
  const long x = std::strtol(v, &end, 10);
  SPT_CHECK(*end == '\0' && x >= 0 && x < (1 << 24), "[comm] environment variable ", name, " = '", v,
            "' is not a rank or a process count; hint: it is set by mpirun / srun, unset it to run one process");
  return static_cast<int>(x);
}

class SingleComm final : public Communicator {
 public:
  SingleComm() : Communicator(World{}) {}
  const char* backend() const override { return "single"; }
  void all_reduce(Tensor&, ReduceOp) override {}
  void all_reduce(std::span<double>, ReduceOp) override {}
  void all_reduce(std::span<int64_t>, ReduceOp) override {}
  void broadcast(Tensor&, int) override {}
  void broadcast(std::string&, int) override {}
  void all_gather_segments(Tensor&, std::span<const int64_t>) override {}
  std::vector<double> all_gather(std::span<const double> mine) override { return {mine.begin(), mine.end()}; }
  void barrier() override {}
};

std::unique_ptr<Communicator>& instance() {
  static std::unique_ptr<Communicator> c;
  return c;
}

// The MPI communicator that handed NCCL its id (ended after NCCL).
std::unique_ptr<Communicator>& bootstrap() {
  static std::unique_ptr<Communicator> c;
  return c;
}

}  // namespace

World detect_world() {
  World w;
  const int ompi_size = env_int("OMPI_COMM_WORLD_SIZE");
  const int slurm_tasks = env_int("SLURM_NTASKS");
  const int slurm_step = env_int("SLURM_STEP_ID");  // set inside srun steps, not in the batch script itself
  if (ompi_size >= 1) {
    w.launcher = "mpirun";
    w.size = ompi_size;
    w.rank = env_int("OMPI_COMM_WORLD_RANK");
    w.local_rank = std::max(env_int("OMPI_COMM_WORLD_LOCAL_RANK"), 0);
    w.local_size = std::max(env_int("OMPI_COMM_WORLD_LOCAL_SIZE"), 1);
  } else if (slurm_tasks >= 1 && slurm_step >= 0 && env_int("SLURM_PROCID") >= 0) {
    w.launcher = "srun";
    w.size = slurm_tasks;
    w.rank = env_int("SLURM_PROCID");
    w.local_rank = std::max(env_int("SLURM_LOCALID"), 0);
    w.local_size = 1;
    if (const char* per_node = std::getenv("SLURM_TASKS_PER_NODE")) w.local_size = std::max(std::atoi(per_node), 1);
  }
  SPT_CHECK(w.rank >= 0 && w.rank < w.size, "[comm] the launcher says rank ", w.rank, " of ", w.size,
            " processes (", w.launcher, "); hint: start spt-finetune with mpirun -np N or srun -n N");
  return w;
}

bool have_mpi() {
#ifdef SPT_WITH_MPI
  return true;
#else
  return false;
#endif
}

bool have_nccl() {
#ifdef SPT_WITH_NCCL
  return true;
#else
  return false;
#endif
}

namespace {

std::mutex& world_mutex() {
  static std::mutex mu;
  return mu;
}

std::unique_ptr<Communicator> make_world(const Options& o) {
  const World w = detect_world();
  if (w.size <= 1) return std::make_unique<SingleComm>();
  SPT_CHECK(o.backend == "auto" || o.backend == "mpi" || o.backend == "nccl", "[comm] runtime.comm = '", o.backend,
            "'; hint: auto, mpi or nccl");
  const bool nccl = o.backend == "nccl" || (o.backend == "auto" && o.device.is_cuda() && have_nccl());
  if (nccl) {
    SPT_CHECK(have_nccl(), "[comm] runtime.comm = nccl but this spt was built without NCCL; hint: build with CUDA "
              "and NCCL (nccl.h, libnccl), or use runtime.comm = \"mpi\"");
    SPT_CHECK(o.device.is_cuda(), "[comm] runtime.comm = nccl needs runtime.device = cuda; hint: CPU runs use mpi");
    if (w.launcher == "mpirun" && have_mpi()) bootstrap() = make_mpi_comm(w);
    return make_nccl_comm(w, o.device.index, bootstrap().get(), o.rendezvous_dir, o.timeout_s);
  }
  SPT_CHECK(have_mpi(), "[comm] ", w.launcher, " started ", w.size,
            " processes but this spt was built without MPI; hint: install libopenmpi-dev (scripts/install_deps.sh) "
            "and rebuild, or run one process");
  return make_mpi_comm(w);
}

}  // namespace

Communicator& init_world(const Options& o) {
  std::lock_guard<std::mutex> lock(world_mutex());
  std::unique_ptr<Communicator>& c = instance();
  if (!c) {
    c = make_world(o);
    c->set_timeout(o.timeout_s);
  }
  return *c;
}

Communicator& world_comm() {
  {
    std::lock_guard<std::mutex> lock(world_mutex());
    if (instance()) return *instance();
  }
  return init_world(Options{});
}

void finalize() {
  instance().reset();
  bootstrap().reset();
}

void abort_world(int code) {
  std::fflush(stdout);
  std::fflush(stderr);
  mpi_abort(code);
  std::_Exit(code);  // no MPI (NCCL over a file rendezvous): the peers' watchdogs end them
}

// ---- watchdog ----

Watchdog::Watchdog(const World& w) : world_(w), thread_([this] { loop(); }) {}

Watchdog::~Watchdog() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    quit_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void Watchdog::begin(const char* what, size_t bytes, double timeout_s) {
  std::lock_guard<std::mutex> lock(mu_);
  ++calls_;
  if (timeout_s <= 0) return;
  armed_ = true;
  what_ = str_cat(what, " of ", bytes, " bytes (collective #", calls_, ")");
  timeout_s_ = timeout_s;
  started_ = std::chrono::steady_clock::now();
  deadline_ = started_ + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                             std::chrono::duration<double>(timeout_s));
  cv_.notify_all();
}

void Watchdog::end() {
  std::lock_guard<std::mutex> lock(mu_);
  armed_ = false;
}

void Watchdog::loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!quit_) {
    if (!armed_) {
      cv_.wait(lock);
      continue;
    }
    const auto deadline = deadline_;
    cv_.wait_until(lock, deadline);
    if (armed_ && deadline_ == deadline && std::chrono::steady_clock::now() >= deadline) {
      // Plain stderr: the logger may be held by the blocked thread.
      std::fprintf(stderr,
                   "[comm] rank %d of %d: %s waited %.0f s for the other ranks (runtime.comm_timeout_s = %.0f): "
                   "a rank died, hangs, or ran out of step; stopping this rank with exit code %d. Hint: look at the "
                   "other ranks' logs for the first error; raise runtime.comm_timeout_s if a step legitimately "
                   "takes longer (e.g. a long evaluation on one rank)\n",
                   world_.rank, world_.size, what_.c_str(), timeout_s_, timeout_s_, kExitCommTimeout);
      std::fflush(stderr);
      std::_Exit(kExitCommTimeout);
    }
  }
}

}  // namespace spt::comm
