// Linked instead of cuda/ when spt is built with SPT_CUDA=OFF (or no nvcc was
// found): reports no devices, and any attempt to use one throws.
#include "cuda_backend.h"

#include "spt/core/error.h"

namespace spt::cuda {

int device_count() { return 0; }

std::string discovery_error() { return "this spt was built without CUDA"; }

std::unique_ptr<Backend> make_backend(int index) {
  fail("[cuda] device cuda:", index, " requested, but this spt was built without CUDA; "
       "hint: install the CUDA toolkit and rebuild with -DSPT_CUDA=ON, or use device \"cpu\"");
}

}  // namespace spt::cuda
