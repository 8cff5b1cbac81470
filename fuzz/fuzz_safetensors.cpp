// Fuzz target: a .safetensors file (header, tensor table, data) as
// SafetensorsReader opens it, then every tensor loaded (dtype conversion included).
#include "fuzz/fuzz_util.h"
#include "spt/io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace spt;
  fuzz::refuse_clearly([&] { io::parse_safetensors(data, size, "fuzz"); });
  const std::string path = fuzz::write_scratch("model.safetensors", fuzz::as_view(data, size));
  fuzz::refuse_clearly([&] {
    const io::SafetensorsReader r(path);
    for (const io::TensorInfo& t : r.tensors()) r.load(t.name, DType::f32);
  });
  return 0;
}
