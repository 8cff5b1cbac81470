// config.json: transformers' defaults per model type, and errors that name
// the key and the file.
#include <catch2/catch.hpp>

#include "spt/io/model_config.h"
#include "tests/io/io_test_util.h"

using namespace spt;
using namespace spt::io;
using spt::test::error_of;

namespace {

ModelConfig parse(const std::string& text) { return parse_model_config(parse_json_strict(text, "[config] t.json"), "t.json"); }
std::string parse_error(const std::string& text) {
  return error_of([&] { parse(text); });
}

const char* kBert = R"({"model_type": "bert", "vocab_size": 100, "hidden_size": 32,
  "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 64})";
const char* kGpt2 = R"({"model_type": "gpt2", "vocab_size": 100, "n_embd": 32, "n_layer": 2, "n_head": 4})";
const char* kLlama = R"({"model_type": "llama", "vocab_size": 100, "hidden_size": 64,
  "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 8})";

const char* kOpt = R"({"model_type": "opt", "vocab_size": 100, "hidden_size": 64, "ffn_dim": 128,
  "num_hidden_layers": 2, "num_attention_heads": 8})";

std::string with(const char* base, const std::string& extra) {
  std::string s = base;
  s.insert(s.size() - 1, ", " + extra);
  return s;
}

std::string replaced(const char* base, const std::string& from, const std::string& to) {
  std::string s = base;
  const size_t at = s.find(from);
  REQUIRE(at != std::string::npos);
  return s.replace(at, from.size(), to);
}

}  // namespace

TEST_CASE("bert config defaults are transformers'", "[io]") {
  const ModelConfig c = parse(kBert);
  CHECK(c.family == ModelFamily::bert);
  CHECK(c.bert.hidden_act == "gelu");
  CHECK(c.bert.activation == Activation::gelu_erf);
  CHECK(c.bert.layer_norm_eps == 1e-12);
  CHECK(c.bert.type_vocab_size == 2);
  CHECK(c.bert.max_position_embeddings == 512);
  CHECK(c.bert.hidden_dropout_prob == 0.1);
  CHECK(c.bert.attention_probs_dropout_prob == 0.1);
  CHECK(!c.bert.classifier_dropout.has_value());
  CHECK(c.bert.pad_token_id == 0);
  CHECK(c.num_labels == 2);
  CHECK(c.tie_word_embeddings);
  CHECK(parse(with(kBert, R"("id2label": {"0": "a", "1": "b", "2": "c"}, "num_labels": 5)")).num_labels == 3);
  CHECK(parse(with(kBert, R"("num_labels": 5)")).num_labels == 5);
  CHECK(parse(with(kBert, R"("hidden_act": "gelu_new")")).bert.activation == Activation::gelu_tanh);
}

TEST_CASE("gpt2 config defaults are transformers'", "[io]") {
  const ModelConfig c = parse(kGpt2);
  CHECK(c.gpt2.n_inner == 4 * 32);  // n_inner null / absent -> 4 * n_embd
  CHECK(parse(with(kGpt2, R"("n_inner": null)")).gpt2.n_inner == 128);
  CHECK(parse(with(kGpt2, R"("n_inner": 40)")).gpt2.n_inner == 40);
  CHECK(c.gpt2.activation_function == "gelu_new");
  CHECK(c.gpt2.activation == Activation::gelu_tanh);
  CHECK(c.gpt2.layer_norm_epsilon == 1e-5);
  CHECK(c.gpt2.n_positions == 1024);
  CHECK(c.gpt2.scale_attn_weights);
  CHECK(!c.gpt2.scale_attn_by_inverse_layer_idx);
  CHECK(c.gpt2.bos_token_id == 50256);
  CHECK(c.tie_word_embeddings);
  CHECK(c.hidden_size() == 32);
  // attribute_map aliases
  const ModelConfig a = parse(R"({"model_type": "gpt2", "vocab_size": 10, "hidden_size": 16,
      "num_hidden_layers": 1, "num_attention_heads": 2, "max_position_embeddings": 8})");
  CHECK(a.gpt2.n_embd == 16);
  CHECK(a.gpt2.n_positions == 8);
  CHECK_THAT(parse_error(with(kGpt2, R"("hidden_size": 48)")), Catch::Contains("disagree"));
}

TEST_CASE("llama config defaults are transformers'", "[io]") {
  const ModelConfig c = parse(kLlama);
  CHECK(c.llama.num_key_value_heads == 8);
  CHECK(c.llama.head_dim == 8);
  CHECK(c.llama.rms_norm_eps == 1e-6);
  CHECK(c.llama.rope_theta == 10000.0);
  CHECK(c.llama.rope_type == "default");
  CHECK(c.llama.max_position_embeddings == 2048);
  CHECK(c.llama.activation == Activation::silu);
  CHECK(!c.tie_word_embeddings);
  CHECK(!c.llama.attention_bias);
  CHECK(parse(with(kLlama, R"("rope_theta": 500000.0)")).llama.rope_theta == 500000.0);
  CHECK(parse(with(kLlama, R"("rope_parameters": {"rope_type": "default", "rope_theta": 1e6})")).llama.rope_theta == 1e6);
  CHECK(parse(with(kLlama, R"("num_key_value_heads": 2, "head_dim": 16)")).llama.num_key_value_heads == 2);
  CHECK_THAT(parse_error(with(kLlama, R"("num_key_value_heads": 3)")), Catch::Contains("multiple"));
  // The fixture written by transformers.
  const ModelConfig f = load_model_config((spt::test::models_dir() / "llama").string());
  CHECK(f.llama.num_key_value_heads == 2);
  CHECK(f.llama.rope_theta == 10000.0);
}

TEST_CASE("llama RoPE scaling parameters are read and unsupported ones refused", "[io]") {
  const ModelConfig l3 = parse(with(kLlama, R"("rope_scaling": {"rope_type": "llama3", "factor": 8.0,
      "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192})"));
  CHECK(l3.llama.rope_type == "llama3");
  CHECK(l3.llama.rope_factor == 8.0);
  CHECK(l3.llama.rope_high_freq_factor == 4.0);
  CHECK(l3.llama.rope_original_max_position_embeddings == 8192);
  // The legacy spelling "type" and rope_parameters both work.
  CHECK(parse(with(kLlama, R"("rope_scaling": {"type": "linear", "factor": 2.0})")).llama.rope_factor == 2.0);
  CHECK(parse(with(kLlama, R"("rope_parameters": {"rope_type": "dynamic", "factor": 4.0, "rope_theta": 1e4})"))
            .llama.rope_type == "dynamic");
  CHECK_THAT(parse_error(with(kLlama, R"("rope_scaling": {"rope_type": "yarn", "factor": 4.0})")),
             Catch::Contains("rope_type \"yarn\" is not supported") && Catch::Contains("llama3"));
  CHECK_THAT(parse_error(with(kLlama, R"("rope_scaling": {"rope_type": "linear"})")),
             Catch::Contains("needs \"factor\""));
  CHECK_THAT(parse_error(with(kLlama, R"("rope_scaling": {"rope_type": "llama3", "factor": 8.0})")),
             Catch::Contains("needs \"low_freq_factor\""));
  CHECK_THAT(parse_error(with(kLlama, R"("rope_scaling": {"rope_type": "linear", "factor": -1})")),
             Catch::Contains("must be positive"));
  CHECK_THAT(parse_error(with(kLlama, R"("rope_parameters": {"rope_type": "default", "partial_rotary_factor": 0.5})")),
             Catch::Contains("partial_rotary_factor"));
}

TEST_CASE("opt config defaults are transformers'", "[io]") {
  const ModelConfig c = parse(kOpt);
  CHECK(c.family == ModelFamily::opt);
  CHECK(c.opt.word_embed_proj_dim == 64);
  CHECK_FALSE(c.opt.projects());
  CHECK(c.opt.do_layer_norm_before);
  CHECK(c.opt.final_norm());
  CHECK(c.opt.enable_bias);
  CHECK(c.opt.activation == Activation::relu);
  CHECK(c.opt.max_position_embeddings == 2048);
  CHECK(c.opt.pad_token_id == 1);
  CHECK(c.tie_word_embeddings);
  const ModelConfig m350 = parse(with(kOpt, R"("do_layer_norm_before": false, "word_embed_proj_dim": 32)"));
  CHECK(m350.opt.projects());
  CHECK_FALSE(m350.opt.final_norm());
  CHECK_THAT(parse_error(with(kOpt, R"("layer_norm_elementwise_affine": false)")),
             Catch::Contains("layer_norm_elementwise_affine"));
  CHECK_THAT(parse_error(replaced(kOpt, R"("num_attention_heads": 8)", R"("num_attention_heads": 7)")),
             Catch::Contains("must be a multiple of"));
  CHECK_THAT(parse_error(replaced(kOpt, R"("ffn_dim": 128,)", "")), Catch::Contains("\"ffn_dim\" is missing"));
}

TEST_CASE("fixture and MiniLM configs parse", "[io]") {
  for (const char* m : {"bert_cls", "bert_base", "gpt2_lm", "gpt2_base", "gpt2_sharded"})
    CHECK_NOTHROW(load_model_config((spt::test::models_dir() / m).string()));
  CHECK(load_model_config((spt::test::models_dir() / "bert_cls").string()).num_labels == 3);
  const auto minilm = spt::test::minilm_dir();
  if (!std::filesystem::exists(minilm / "config.json"))
    FAIL("all-MiniLM-L6-v2 not found at " << minilm.string() << "; run scripts/fetch_minilm.sh");
  const ModelConfig c = load_model_config(minilm.string());
  CHECK(c.bert.hidden_size == 384);
  CHECK(c.bert.num_hidden_layers == 6);
}

TEST_CASE("malformed config.json errors name the key and the file", "[io]") {
  CHECK_THAT(parse_error(R"({"model_type": "t5", "d_model": 4})"),
             Catch::Contains("[config] t.json") && Catch::Contains("\"t5\" is not supported") &&
                 Catch::Contains("bert, gpt2, llama"));
  CHECK_THAT(parse_error(R"({"vocab_size": 3})"), Catch::Contains("\"model_type\" is missing"));
  CHECK_THAT(parse_error(R"({"model_type": "bert", "vocab_size": 100, "hidden_size": 32,
      "num_attention_heads": 4, "intermediate_size": 64})"),
             Catch::Contains("required key \"num_hidden_layers\" is missing") && Catch::Contains("t.json"));
  CHECK_THAT(parse_error(with(kBert, R"("layer_norm_eps": "small")")),
             Catch::Contains("\"layer_norm_eps\" must be a number, got string"));
  CHECK_THAT(parse_error(R"({"model_type": "bert", "vocab_size": "100", "hidden_size": 32,
      "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 64})"),
             Catch::Contains("\"vocab_size\" must be an integer, got string"));
  CHECK_THAT(parse_error(R"({"model_type": "bert", "vocab_size": 100, "hidden_size": 32.5,
      "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 64})"),
             Catch::Contains("\"hidden_size\" must be an integer"));
  CHECK_THAT(parse_error(with(kBert, R"("hidden_act": "mish")")),
             Catch::Contains("\"hidden_act\" is \"mish\"") && Catch::Contains("supported are"));
  CHECK_THAT(parse_error(replaced(kBert, "\"num_attention_heads\": 4", "\"num_attention_heads\": 5")),
             Catch::Contains("\"hidden_size\" (32) must be a multiple of \"num_attention_heads\" (5)"));
  CHECK_THAT(parse_error(replaced(kGpt2, "\"n_head\": 4", "\"n_head\": 5")), Catch::Contains("multiple of \"n_head\""));
  CHECK_THAT(parse_error(with(kBert, R"("is_decoder": true)")), Catch::Contains("not supported"));
  CHECK_THAT(parse_error(with(kBert, R"("hidden_dropout_prob": 1.5)")), Catch::Contains("[0, 1]"));
  CHECK_THAT(parse_error(replaced(kBert, "\"vocab_size\": 100", "\"vocab_size\": 0")),
             Catch::Contains("\"vocab_size\" must be a positive integer, got 0"));
  CHECK_THAT(parse_error(with(kBert, R"("vocab_size": 7)")), Catch::Contains("\"vocab_size\" twice"));
  CHECK_THAT(parse_error(with(kBert, R"("position_embedding_type": "relative_key")")), Catch::Contains("relative_key"));
  CHECK_THAT(parse_error("[1, 2]"), Catch::Contains("must be a JSON object"));
  // Syntax errors report line and column; duplicate keys are refused.
  CHECK_THAT(error_of([] { parse_json_strict("{\n  \"a\": 1,\n  \"b\" 2\n}", "[config] x.json"); }),
             Catch::Contains("[config] x.json is not valid JSON: line 3, column 7"));
  CHECK_THAT(error_of([] { parse_json_strict(R"({"a": {"b": 1, "b": 2}})", "[config] x.json"); }),
             Catch::Contains("key \"b\" twice"));
  CHECK_NOTHROW(parse_json_strict(R"({"a": {"b": 1}, "c": {"b": 2}})", "x"));  // same key, other objects
  spt::test::TempDir tmp;
  CHECK_THAT(error_of([&] { load_model_config(tmp.path().string()); }),
             Catch::Contains("config.json does not exist"));
  spt::test::spit(tmp / "config.json", "{\n  \"model_type\": \"bert\",\n  \"vocab_size\": 10,,\n}");
  CHECK_THAT(error_of([&] { load_model_config(tmp.path().string()); }),
             Catch::StartsWith("[config] " + (tmp / "config.json").string() + " is not valid JSON: line 3, column"));
}
