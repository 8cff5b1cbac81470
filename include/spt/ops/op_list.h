// The op library, listed once. Everything that must cover every op reads this
// list: the op-test registry (tests/op_cases.cpp must have cases for exactly
// these ops; tests/test_ops.cpp registers one gradient test and one CUDA-vs-CPU
// test per name) and spt-bench (it fails when an op has no benchmark row).
// Adding an op = adding its name here, its cases and its bench row.
#pragma once

#include <string>
#include <vector>

namespace spt::ops {

const std::vector<std::string>& op_names();

}  // namespace spt::ops
