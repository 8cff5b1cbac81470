// ParameterStore: flat layout, named views, freezing by pattern.
#include <catch2/catch.hpp>

#include "spt/core/error.h"
#include "spt/model/parameters.h"

using namespace spt;

TEST_CASE("glob patterns", "[params]") {
  CHECK(glob_match("*", "anything"));
  CHECK(glob_match("encoder.layer.*.attention.*", "encoder.layer.3.attention.self.query.weight"));
  CHECK_FALSE(glob_match("encoder.layer.?.output", "encoder.layer.10.output"));
  CHECK(glob_match("*.bias", "pooler.dense.bias"));
  CHECK_FALSE(glob_match("*.bias", "pooler.dense.weight"));
  CHECK(glob_match("", ""));
  CHECK_FALSE(glob_match("", "x"));
}

TEST_CASE("parameters live in flat buffers, decayed first", "[params]") {
  ParameterStore ps({{"emb.weight", {10, 4}, true, true},
                     {"ln.weight", {4}, true, false},
                     {"fc.weight", {3, 4}, true, true},
                     {"fc.bias", {3}, true, false}},
                    Device::cpu());
  CHECK(ps.num_params() == 40 + 4 + 12 + 3);
  CHECK(ps.num_trainable() == ps.num_params());
  CHECK(ps.decay_end() == 52);
  CHECK(ps.param("fc.weight").shape() == Shape{3, 4});
  CHECK(ps.param("fc.weight").same_storage(ps.flat_trainable()));
  CHECK(ps.grad("fc.bias").same_storage(ps.flat_grads()));
  // fc.weight follows emb.weight inside the decayed range.
  ps.param("fc.weight").copy_from(Tensor::from_doubles(std::vector<double>(12, 2.0), {3, 4}, DType::f32));
  const auto flat = ps.flat_trainable().to_doubles();
  CHECK(flat[40] == 2.0);
  CHECK(flat[51] == 2.0);
  CHECK(flat[39] == 0.0);
  CHECK_THROWS_WITH(ps.param("fc.wieght"), Catch::Contains("fc.wieght"));
}

TEST_CASE("freezing moves parameters out of the trainable buffer, values kept", "[params]") {
  ParameterStore ps({{"a.weight", {2, 2}}, {"b.weight", {3}}, {"b.bias", {3}, true, false}},
                    Device::cpu());
  ps.param("a.weight").copy_from(Tensor::from_doubles({1, 2, 3, 4}, {2, 2}, DType::f32));
  CHECK(ps.freeze({"a.*"}) == 1);
  CHECK(ps.num_trainable() == 6);
  CHECK(ps.num_params() == 10);
  CHECK_FALSE(ps.grad("a.weight").defined());
  CHECK(ps.param("a.weight").same_storage(ps.flat_frozen()));
  CHECK(ps.param("a.weight").to_doubles() == std::vector<double>{1, 2, 3, 4});
  // Keep only the biases trainable.
  ps.freeze({"*.bias"}, true);
  CHECK(ps.num_trainable() == 3);
  CHECK(ps.info("b.weight").trainable == false);
}
