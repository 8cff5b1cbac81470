// A restricted unpickler for torch.save state dicts (internal to src/io).
//
// It interprets the opcodes that pickle protocols 2-4 use for plain data
// (None, bools, ints, floats, strings, bytes, tuples, lists, dicts) and knows
// exactly these callables, which it evaluates itself, never calling Python:
//   collections.OrderedDict            -> a dict
//   torch._utils._rebuild_tensor_v2    -> a tensor view of a storage
//   torch._utils._rebuild_parameter    -> the same tensor
//   torch.<T>Storage (persistent ids)  -> a storage record of dtype T
// Any other global, opcode or persistent id is rejected with an error: a
// pickle can name arbitrary functions, and loading one must not run them.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "spt/core/tensor.h"
#include "spt/io/stored_dtype.h"

namespace spt::io {

struct PyObject;
using PyRef = std::shared_ptr<PyObject>;

struct PyObject {
  enum class Kind { none, boolean, integer, floating, string, bytes, tuple, list, dict, global,
                    storage, tensor };
  Kind kind = Kind::none;
  int depth = 0;        // nesting depth (bounded, so destruction cannot overflow the stack)
  int64_t i = 0;        // boolean, integer
  double f = 0.0;       // floating
  std::string s;        // string, bytes, global ("module.name"), storage key
  std::vector<PyRef> items;                       // tuple, list
  std::vector<std::pair<PyRef, PyRef>> entries;   // dict, in insertion order
  // storage
  StoredDType dtype = StoredDType::F32;
  int64_t numel = 0;
  // tensor: a strided view of `items[0]` (the storage)
  int64_t offset = 0;
  Shape shape, stride;
};

// The kind as a Python-ish word for error messages ("dict", "tensor", ...).
const char* py_kind_name(const PyObject& o);

// Runs the pickle in data[0, size) and returns the object it builds. `what`
// names the file in errors.
PyRef unpickle(const unsigned char* data, uint64_t size, const std::string& what);

}  // namespace spt::io
