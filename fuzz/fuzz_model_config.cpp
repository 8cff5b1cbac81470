// Fuzz target: a model's config.json, for every family spt reads (the
// model_type inside picks it), and the parameter table it implies for each head.
#include "fuzz/fuzz_util.h"
#include "spt/io/json_util.h"
#include "spt/io/model_config.h"
#include "spt/io/param_spec.h"
#include "spt/io/weight_map.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace spt;
  fuzz::refuse_clearly([&] {
    const io::Json j = io::parse_json_strict(fuzz::as_view(data, size), "[config] fuzz config.json");
    const io::ModelConfig c = io::parse_model_config(j, "fuzz config.json");
    for (const io::ModelHead h : {io::ModelHead::none, io::ModelHead::sequence_classification,
                                  io::ModelHead::causal_lm})
      fuzz::refuse_clearly([&] { io::param_mappings(c, h); });
  });
  return 0;
}
