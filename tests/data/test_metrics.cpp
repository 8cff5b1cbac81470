// Metrics against values worked out by hand and against scikit-learn 1.9.1 / SciPy
// 1.17.1, computed once and written here:
//   accuracy_score, f1_score, matthews_corrcoef, f1_score(average="macro"),
//   scipy.stats.pearsonr, spearmanr, rankdata.
#include <catch2/catch.hpp>

#include <cmath>

#include "spt/core/error.h"
#include "spt/data/metrics.h"

namespace {

using namespace spt::data;
using Catch::Contains;

// TP 4, FP 2, FN 1, TN 3.
const std::vector<int32_t> kPred = {1, 0, 1, 1, 0, 1, 0, 0, 1, 1};
const std::vector<int32_t> kGold = {1, 0, 0, 1, 0, 1, 1, 0, 1, 0};

const std::vector<double> kX = {0.5, 2.1, 3.3, 1.0, 4.8, 4.8, 2.1, 0.0, 3.9, 2.1};
const std::vector<double> kY = {1.0, 1.9, 3.0, 1.5, 5.0, 4.0, 2.5, 0.2, 3.0, 2.0};

}  // namespace

TEST_CASE("Binary accuracy, F1 and MCC match hand counts and sklearn", "[data]") {
  CHECK(accuracy(kPred, kGold) == Approx(0.7).epsilon(1e-15));
  // F1 = 2*4 / (2*4 + 2 + 1) = 8/11; sklearn 0.7272727272727273
  CHECK(f1_binary(kPred, kGold) == Approx(8.0 / 11.0).epsilon(1e-15));
  // MCC = (4*3 - 2*1) / sqrt(6*5*5*4); sklearn 0.408248290463863
  CHECK(matthews_corrcoef(kPred, kGold) == Approx(10.0 / std::sqrt(600.0)).epsilon(1e-14));
  CHECK(matthews_corrcoef(kPred, kGold) == Approx(0.408248290463863).epsilon(1e-14));
  // F1 of class 0 instead: TP 3, FP 1, FN 2 -> 6/9.
  CHECK(f1_binary(kPred, kGold, 0) == Approx(6.0 / 9.0));
}

TEST_CASE("Metric edge cases follow sklearn's conventions", "[data]") {
  const std::vector<int32_t> zeros = {0, 0, 0}, ones = {1, 1, 1}, mixed = {0, 1, 1};
  CHECK(f1_binary(zeros, zeros) == 0.0);          // no positives anywhere: zero_division 0
  CHECK(matthews_corrcoef(ones, mixed) == 0.0);   // constant prediction
  CHECK(matthews_corrcoef(mixed, mixed) == Approx(1.0));
  const std::vector<int32_t> flipped = {1, 0, 0};
  CHECK(matthews_corrcoef(flipped, mixed) == Approx(-1.0));
  CHECK(std::isnan(pearson(std::vector<double>{1, 1, 1}, std::vector<double>{1, 2, 3})));
  CHECK_THROWS_WITH(accuracy(zeros, std::vector<int32_t>{0, 0}),
                    Contains("[metrics] accuracy: 3 predictions for 2 labels"));
  CHECK_THROWS_WITH(accuracy(std::vector<int32_t>{}, std::vector<int32_t>{}),
                    Contains("no predictions"));
}

TEST_CASE("Multiclass MCC and macro F1 match sklearn", "[data]") {
  const std::vector<int32_t> p = {0, 1, 2, 2, 1, 0, 2, 1, 0, 0, 2, 1};
  const std::vector<int32_t> g = {0, 1, 2, 1, 1, 0, 2, 2, 0, 1, 2, 0};
  CHECK(matthews_corrcoef(p, g) == Approx(0.5).epsilon(1e-14));
  const auto m = classification_metrics(p, g, 3);
  CHECK(metric_value(m, "accuracy") == Approx(8.0 / 12.0));
  CHECK(metric_value(m, "macro_f1") == Approx(0.6666666666666666).epsilon(1e-14));
  // A class only predicted (3) and one only true (2) still count in the macro mean.
  const std::vector<int32_t> p4 = {0, 1, 3, 1}, g4 = {0, 1, 1, 2};
  CHECK(metric_value(classification_metrics(p4, g4, 4), "macro_f1") == Approx(0.375));
  CHECK(matthews_corrcoef(p4, g4) == Approx(0.3).epsilon(1e-14));
  CHECK_THROWS_WITH(metric_value(m, "f1"), Contains("no metric \"f1\" (have: accuracy, macro_f1)"));
}

TEST_CASE("Pearson, Spearman with average ranks for ties, MSE", "[data]") {
  const std::vector<double> rx = {2, 5, 7, 3, 9.5, 9.5, 5, 1, 8, 5};  // rankdata(kX)
  CHECK(average_ranks(kX) == rx);
  const std::vector<double> ry = {2, 4, 7.5, 3, 10, 9, 6, 1, 7.5, 5};
  CHECK(average_ranks(kY) == ry);
  CHECK(pearson(kX, kY) == Approx(0.9640817531715591).epsilon(1e-14));
  CHECK(spearman(kX, kY) == Approx(0.9815562866705296).epsilon(1e-14));
  CHECK(mean_squared_error(kX, kY) == Approx(0.233).epsilon(1e-13));
  const auto m = regression_metrics(kX, kY);
  CHECK(m[0].first == "mse");
  CHECK(metric_value(m, "spearmanr") == Approx(0.9815562866705296));
  // Perfect monotone but non-linear: Spearman 1, Pearson below 1.
  const std::vector<double> a = {1, 2, 3, 4}, b = {1, 4, 9, 100};
  CHECK(spearman(a, b) == Approx(1.0));
  CHECK(pearson(a, b) < 0.9);
}

TEST_CASE("GLUE metrics per task", "[data]") {
  auto names = [](const Metrics& m) {
    std::vector<std::string> v;
    for (const auto& kv : m) v.push_back(kv.first);
    return v;
  };
  using V = std::vector<std::string>;
  const auto cola = glue_metrics(GlueTask::cola, kPred, kGold);
  CHECK(names(cola) == V{"matthews_correlation"});
  CHECK(cola[0].second == Approx(0.408248290463863));
  const auto mrpc = glue_metrics(GlueTask::mrpc, kPred, kGold);
  CHECK(names(mrpc) == V{"accuracy", "f1", "combined_score"});
  CHECK(metric_value(mrpc, "combined_score") == Approx((0.7 + 8.0 / 11.0) / 2));
  CHECK(names(glue_metrics(GlueTask::qqp, kPred, kGold)) == V{"accuracy", "f1", "combined_score"});
  for (GlueTask t : {GlueTask::sst2, GlueTask::qnli, GlueTask::rte, GlueTask::wnli})
    CHECK(names(glue_metrics(t, kPred, kGold)) == V{"accuracy"});
  const auto stsb = glue_metrics(GlueTask::stsb, kX, kY);
  CHECK(names(stsb) == V{"pearson", "spearmanr", "combined_score"});
  CHECK(metric_value(stsb, "combined_score") ==
        Approx((0.9640817531715591 + 0.9815562866705296) / 2));
  const std::vector<int32_t> pm = {0, 1, 2}, gm = {0, 1, 1}, pmm = {2, 2}, gmm = {2, 0};
  const auto mnli = mnli_metrics(pm, gm, pmm, gmm);
  CHECK(names(mnli) == V{"accuracy", "accuracy_mm"});
  CHECK(metric_value(mnli, "accuracy") == Approx(2.0 / 3.0));
  CHECK(metric_value(mnli, "accuracy_mm") == Approx(0.5));
  for (GlueTask t : all_glue_tasks()) {  // the task table lists what glue_metrics gives
    const auto& info = glue_task_info(t);
    if (t == GlueTask::mnli) continue;
    const auto m = info.is_regression() ? glue_metrics(t, kX, kY) : glue_metrics(t, kPred, kGold);
    CHECK(names(m) == info.metrics);
    CHECK_NOTHROW(metric_value(m, info.main_metric));
  }
  CHECK_THROWS_WITH(glue_metrics(GlueTask::stsb, kPred, kGold), Contains("regression task"));
  CHECK_THROWS_WITH(glue_metrics(GlueTask::rte, kX, kY), Contains("classification task"));
}
