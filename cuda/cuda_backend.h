// Entry points of the CUDA backend, as seen by the backend registry.
// Implemented in cuda/ when spt is built with CUDA, and by src/core/cuda_stub.cpp
// (every entry point throws or reports zero devices) when it is not.
#pragma once

#include <memory>
#include <string>

#include "spt/backend/backend.h"

namespace spt::cuda {

// Number of CUDA devices; 0 on any error during discovery (no driver, no GPU).
int device_count();
// The discovery error behind a count of 0 ("" when devices were found).
std::string discovery_error();
// Creates the backend for device `index` (throws spt::Error if unusable).
std::unique_ptr<Backend> make_backend(int index);

}  // namespace spt::cuda
