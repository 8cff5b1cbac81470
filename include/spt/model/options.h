// Run choices that shape a model beyond its Hugging Face config (the
// architecture's "model options"): resolved from the run config, stored in
// checkpoints (config.json "spt"), passed to the model factory, so that
// spt-finetune, spt-predict and spt-bench build the same model.
#pragma once

#include "spt/model/lora.h"

namespace spt::model {

struct ModelOptions {
  LoraOptions lora;  // adapters on linear layers (disabled by default)
};

}  // namespace spt::model
