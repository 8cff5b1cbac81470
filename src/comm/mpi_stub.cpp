// A build without MPI: world_comm() refuses multi-process worlds before calling this.
#include "spt/core/error.h"
#include "src/comm/comm_impl.h"

namespace spt::comm {

std::unique_ptr<Communicator> make_mpi_comm(const World&) {
  throw Error("[comm] this spt was built without MPI; hint: install libopenmpi-dev and rebuild");
}

void mpi_abort(int) {}

}  // namespace spt::comm
