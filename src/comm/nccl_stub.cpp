// A build without NCCL (no CUDA, or no nccl.h): init_world refuses runtime.comm =
// "nccl" before calling this, and "auto" picks MPI.
#include "spt/core/error.h"
#include "src/comm/comm_impl.h"

namespace spt::comm {

std::unique_ptr<Communicator> make_nccl_comm(const World&, int, Communicator*, const std::string&, double) {
  throw Error("[comm] this spt was built without NCCL; hint: build with CUDA and NCCL, or use runtime.comm = \"mpi\"");
}

}  // namespace spt::comm
