// Internals of the communicators: the factory of the MPI back-end (mpi.cpp, or
// mpi_stub.cpp in a build without MPI) and the watchdog that bounds how long a
// collective may wait.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "spt/comm/comm.h"

namespace spt::comm {

std::unique_ptr<Communicator> make_mpi_comm(const World& w);
// MPI_Abort on MPI_COMM_WORLD when MPI is initialised (mpi.cpp); else returns.
void mpi_abort(int code);
// NCCL on cuda:<device> (cuda/comm_nccl.cpp; src/comm/nccl_stub.cpp without NCCL).
// The unique id travels through `bootstrap` (an MPI communicator of the same
// world) or, when it is null, through a file in `rendezvous_dir`.
std::unique_ptr<Communicator> make_nccl_comm(const World& w, int device, Communicator* bootstrap,
                                             const std::string& rendezvous_dir, double timeout_s);

// One thread per process; `begin` arms it before a blocking collective and
// `end` disarms it. When an armed collective outlives the timeout the thread
// prints what was waited for and exits the process with kExitCommTimeout (the
// blocked main thread cannot be interrupted; mpirun then stops the others).
class Watchdog {
 public:
  explicit Watchdog(const World& w);
  ~Watchdog();
  void begin(const char* what, size_t bytes, double timeout_s);
  void end();

 private:
  void loop();
  World world_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool armed_ = false, quit_ = false;
  std::string what_;
  std::chrono::steady_clock::time_point deadline_, started_;
  double timeout_s_ = 0;
  uint64_t calls_ = 0;
  std::thread thread_;
};

// Arms the watchdog for one scope.
struct Watched {
  Watched(Watchdog& w, const char* what, size_t bytes, double timeout_s) : w_(w) { w_.begin(what, bytes, timeout_s); }
  ~Watched() { w_.end(); }
  Watchdog& w_;
};

}  // namespace spt::comm
