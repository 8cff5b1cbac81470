// Fuzz target: the torch.save zip / pickle subset. The first byte picks the
// layer: 0 a whole pytorch_model.bin (zip reader, pickle, storages, every tensor
// loaded), 1 the pickle stream alone (data.pkl).
#include "fuzz/fuzz_util.h"
#include "spt/io/torch_bin.h"
#include "src/io/pickle.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace spt;
  if (size < 1) return 0;
  const uint8_t mode = data[0] % 2;
  ++data;
  --size;
  if (mode == 1) {
    fuzz::refuse_clearly([&] { io::unpickle(data, size, "fuzz data.pkl"); });
    return 0;
  }
  const std::string path = fuzz::write_scratch("pytorch_model.bin", fuzz::as_view(data, size));
  fuzz::refuse_clearly([&] {
    const io::TorchBinReader r(path);
    for (const io::TensorInfo& t : r.tensors()) r.load(t.name, DType::f32);
  });
  return 0;
}
