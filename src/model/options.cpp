// ModelOptions in and out of a checkpoint's "spt" object.
#include "spt/model/options.h"

namespace spt::model {

void ModelOptions::write_json(io::Json& spt) const {
  if (lora.enabled) spt["lora"] = lora.to_json();
  if (attention.enabled) spt["attention"] = attention.to_json();
  if (ffn.enabled) spt["ffn"] = ffn.to_json();
}

ModelOptions ModelOptions::from_json(const io::Json& spt, const std::string& context) {
  ModelOptions o;
  if (spt.is_object() && spt.contains("lora") && !spt["lora"].is_null())
    o.lora = LoraOptions::from_json(spt["lora"], context);
  if (spt.is_object() && spt.contains("attention") && spt["attention"].is_object())
    o.attention = SparseAttentionOptions::from_json(spt["attention"], context);
  if (spt.is_object() && spt.contains("ffn") && spt["ffn"].is_object())
    o.ffn = RoutedFfnOptions::from_json(spt["ffn"], context);
  return o;
}

}  // namespace spt::model
