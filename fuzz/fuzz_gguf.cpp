// Fuzz target: a GGUF file: the header and tensor table, then the model it
// describes as spt-finetune opens one (config, tokenizer, every tensor
// dequantised and un-permuted).
#include "fuzz/fuzz_util.h"
#include "spt/io/gguf.h"
#include "spt/io/gguf_import.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace spt;
  fuzz::refuse_clearly([&] { io::parse_gguf(data, size, "fuzz"); });
  const std::string path = fuzz::write_scratch("model.gguf", fuzz::as_view(data, size));
  fuzz::refuse_clearly([&] {
    const io::GgufModel m = io::open_gguf_model(path);
    for (const io::TensorInfo& t : m.tensors->tensors()) m.tensors->load(t.name, DType::f32);
  });
  return 0;
}
