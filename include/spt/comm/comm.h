// The processes of one run and the collectives data parallelism needs.
//
// A run is one process unless a launcher started several: `mpirun` (OpenMPI sets
// OMPI_COMM_WORLD_RANK / _SIZE / _LOCAL_RANK) or Slurm's `srun` (SLURM_PROCID,
// SLURM_NTASKS, SLURM_LOCALID). With more than one process the collectives run on
// MPI (Debian's OpenMPI; any tensors, CUDA ones staged through host memory) or
// NCCL (CUDA tensors on one GPU per rank; host values staged through the GPU). A
// single process touches neither, so a run without a launcher is exactly the
// single-process program.
//
// Collectives are blocking and every rank must call them in the same order. Each
// one is watched: if it does not complete within the timeout (a rank died, hangs
// or took another path), the process prints which collective, how long it waited
// and what to check, and exits with kExitCommTimeout; mpirun then stops the
// other ranks. A rank that dies is noticed by mpirun itself, which ends the job.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "spt/core/tensor.h"

namespace spt::comm {

// Exit codes of spt-finetune beyond 0 (done) and 1 (error).
inline constexpr int kExitCommTimeout = 74;  // a collective timed out (see above)
inline constexpr int kExitStopped = 75;      // stopped by SIGTERM / SIGUSR1 after a checkpoint: resume it
                                             // (EX_TEMPFAIL; the sbatch scripts requeue on it)

struct World {
  int rank = 0, size = 1;
  int local_rank = 0, local_size = 1;  // within the node
  std::string launcher = "none";       // "mpirun", "srun" or "none"
};

// The world the launcher describes in the environment (see the top of the file).
World detect_world();

enum class ReduceOp { sum, max };

class Communicator {
 public:
  virtual ~Communicator() = default;
  const World& world() const { return world_; }
  int rank() const { return world_.rank; }
  int size() const { return world_.size; }
  bool is_root() const { return world_.rank == 0; }
  virtual const char* backend() const = 0;  // "single", "mpi" or "nccl"

  // In place, the same result on every rank. Tensors: contiguous f32 / f64 / i32 /
  // i64 on any device (CUDA tensors are staged through host memory with MPI).
  virtual void all_reduce(Tensor& t, ReduceOp op) = 0;
  virtual void all_reduce(std::span<double> v, ReduceOp op) = 0;
  virtual void all_reduce(std::span<int64_t> v, ReduceOp op) = 0;
  // An all-reduce (sum) of `t` that may still run when this returns: NCCL
  // queues it on a communication stream behind the work already queued on the
  // compute stream (gradients of the blocks done so far), so it overlaps the
  // rest of backward; `t` must stay alive and untouched until wait_pending(),
  // which makes later device work wait for every started one. MPI and one
  // process: done on return.
  virtual void all_reduce_start(Tensor& t) { all_reduce(t, ReduceOp::sum); }
  virtual void wait_pending() {}
  // Root's values into every rank's `t` (same shape and dtype everywhere).
  virtual void broadcast(Tensor& t, int root) = 0;
  virtual void broadcast(std::string& s, int root) = 0;
  // In place on a 1-D contiguous f32 tensor: every rank's segment
  // [offsets[r], offsets[r + 1]) (size() + 1 offsets) from rank r, on every rank.
  virtual void all_gather_segments(Tensor& flat, std::span<const int64_t> offsets) = 0;
  // Every rank's values, concatenated in rank order (lengths may differ).
  virtual std::vector<double> all_gather(std::span<const double> mine) = 0;
  virtual void barrier() = 0;

  // Seconds a collective may wait before the process gives up (<= 0: forever).
  void set_timeout(double seconds) { timeout_s_ = seconds; }
  double timeout() const { return timeout_s_; }

 protected:
  explicit Communicator(World w) : world_(std::move(w)) {}
  World world_;
  double timeout_s_ = 600;
};

// How the run's communicator is made (runtime.comm, runtime.rendezvous_dir).
struct Options {
  std::string backend = "auto";   // "auto": NCCL for a CUDA device when built with it, else MPI; "mpi"; "nccl"
  Device device = Device::cpu();  // this rank's device
  std::string rendezvous_dir;     // NCCL without mpirun: where rank 0 leaves the NCCL id
  double timeout_s = 600;         // Communicator::set_timeout
};

// Creates the run's communicator from detect_world() on the first call (later
// calls return it): a single-process one whose collectives are no-ops when there
// is one process, else MPI or NCCL as `o` says. NCCL gets its id through MPI
// when mpirun started the ranks, else through a file in o.rendezvous_dir.
// Throws with a fix when the build lacks the back-end, or when MPI sees another
// world than the launcher.
Communicator& init_world(const Options& o);
// init_world({}) unless a communicator exists.
Communicator& world_comm();
// Whether world_comm() spans more than one process (creates it).
inline bool distributed() { return world_comm().size() > 1; }
// Ends MPI cleanly at the end of a successful run (no-op without it).
void finalize();
// An error on this rank of a multi-process run: ends every rank now with `code`
// (MPI_Abort; the others must not wait in a collective or in MPI_Finalize).
[[noreturn]] void abort_world(int code);

// Whether this build has the MPI / NCCL back-end.
bool have_mpi();
bool have_nccl();

}  // namespace spt::comm
