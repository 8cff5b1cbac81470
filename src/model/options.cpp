// ModelOptions in and out of a checkpoint's "spt" object.
#include "spt/model/options.h"

#include "spt/core/error.h"

namespace spt::model {

const char* pooling_name(Pooling p) { return p == Pooling::mean ? "mean" : "cls"; }

Pooling parse_pooling(const std::string& s, const std::string& context) {
  if (s == "cls") return Pooling::cls;
  if (s == "mean") return Pooling::mean;
  fail(context, ": pooling \"", s, "\" is not one of cls, mean");
}

void ModelOptions::write_json(io::Json& spt) const {
  if (lora.enabled) spt["lora"] = lora.to_json();
  if (attention.enabled) spt["attention"] = attention.to_json();
  if (ffn.enabled) spt["ffn"] = ffn.to_json();
  if (pooling != Pooling::cls) spt["pooling"] = pooling_name(pooling);
}

ModelOptions ModelOptions::from_json(const io::Json& spt, const std::string& context) {
  ModelOptions o;
  if (spt.is_object() && spt.contains("lora") && !spt["lora"].is_null())
    o.lora = LoraOptions::from_json(spt["lora"], context);
  if (spt.is_object() && spt.contains("attention") && spt["attention"].is_object())
    o.attention = SparseAttentionOptions::from_json(spt["attention"], context);
  if (spt.is_object() && spt.contains("ffn") && spt["ffn"].is_object())
    o.ffn = RoutedFfnOptions::from_json(spt["ffn"], context);
  if (spt.is_object() && spt.contains("pooling")) {
    SPT_CHECK(spt["pooling"].is_string(), context, ": \"spt\".\"pooling\" must be a string (cls or mean)");
    o.pooling = parse_pooling(spt["pooling"].get<std::string>(), context + " \"spt\"");
  }
  return o;
}

}  // namespace spt::model
