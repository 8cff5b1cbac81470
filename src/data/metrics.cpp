// Evaluation metrics (see spt/data/metrics.h for the formulas). Sums run in double,
// two-pass (mean first) for the correlations, as numpy/scipy do.
#include "spt/data/metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>

#include "spt/core/error.h"

namespace spt::data {

namespace {

template <class T>
void check_sizes(const char* what, std::span<const T> pred, std::span<const T> gold) {
  SPT_CHECK(pred.size() == gold.size(), "[metrics] ", what, ": ", pred.size(),
            " predictions for ", gold.size(), " labels");
  SPT_CHECK(!pred.empty(), "[metrics] ", what, ": no predictions to score");
}

// 2 TP / (2 TP + FP + FN) for class `c`; 0 when the class never occurs.
double f1_of_class(std::span<const int32_t> pred, std::span<const int32_t> gold, int32_t c) {
  size_t tp = 0, fp = 0, fn = 0;
  for (size_t i = 0; i < pred.size(); ++i) {
    const bool p = pred[i] == c, g = gold[i] == c;
    tp += p && g;
    fp += p && !g;
    fn += !p && g;
  }
  const size_t den = 2 * tp + fp + fn;
  return den ? 2.0 * static_cast<double>(tp) / static_cast<double>(den) : 0.0;
}

}  // namespace

double metric_value(const Metrics& m, const std::string& name) {
  std::string names;
  for (const auto& [k, v] : m) {
    if (k == name) return v;
    names += (names.empty() ? "" : ", ") + k;
  }
  fail("[metrics] no metric \"", name, "\" (have: ", names, "); hint: set eval.metric to one of them");
}

double accuracy(std::span<const int32_t> pred, std::span<const int32_t> gold) {
  check_sizes("accuracy", pred, gold);
  size_t right = 0;
  for (size_t i = 0; i < pred.size(); ++i) right += pred[i] == gold[i];
  return static_cast<double>(right) / static_cast<double>(pred.size());
}

double f1_binary(std::span<const int32_t> pred, std::span<const int32_t> gold, int32_t positive) {
  check_sizes("f1", pred, gold);
  return f1_of_class(pred, gold, positive);
}

double matthews_corrcoef(std::span<const int32_t> pred, std::span<const int32_t> gold) {
  check_sizes("matthews_correlation", pred, gold);
  std::map<int32_t, std::pair<double, double>> counts;  // class -> (predicted, true)
  double correct = 0;
  for (size_t i = 0; i < pred.size(); ++i) {
    counts[pred[i]].first += 1;
    counts[gold[i]].second += 1;
    correct += pred[i] == gold[i];
  }
  const double s = static_cast<double>(pred.size());
  double pt = 0, pp = 0, tt = 0;
  for (const auto& [c, n] : counts) {
    pt += n.first * n.second;
    pp += n.first * n.first;
    tt += n.second * n.second;
  }
  const double cov_pt = correct * s - pt, cov_pp = s * s - pp, cov_tt = s * s - tt;
  if (cov_pp * cov_tt == 0) return 0.0;
  return cov_pt / std::sqrt(cov_tt * cov_pp);
}

double pearson(std::span<const double> x, std::span<const double> y) {
  check_sizes("pearson", x, y);
  const double n = static_cast<double>(x.size());
  const double mx = std::accumulate(x.begin(), x.end(), 0.0) / n;
  const double my = std::accumulate(y.begin(), y.end(), 0.0) / n;
  double sxy = 0, sxx = 0, syy = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double dx = x[i] - mx, dy = y[i] - my;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  if (sxx == 0 || syy == 0) return std::numeric_limits<double>::quiet_NaN();
  return std::clamp(sxy / std::sqrt(sxx * syy), -1.0, 1.0);
}

std::vector<double> average_ranks(std::span<const double> x) {
  std::vector<size_t> order(x.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return x[a] < x[b]; });
  std::vector<double> ranks(x.size());
  for (size_t i = 0; i < order.size();) {
    size_t j = i;
    while (j + 1 < order.size() && x[order[j + 1]] == x[order[i]]) ++j;
    const double r = (static_cast<double>(i) + static_cast<double>(j)) / 2.0 + 1.0;  // ranks i+1..j+1
    for (size_t k = i; k <= j; ++k) ranks[order[k]] = r;
    i = j + 1;
  }
  return ranks;
}

double spearman(std::span<const double> x, std::span<const double> y) {
  check_sizes("spearmanr", x, y);
  const auto rx = average_ranks(x), ry = average_ranks(y);
  return pearson(rx, ry);
}

double mean_squared_error(std::span<const double> pred, std::span<const double> gold) {
  check_sizes("mse", pred, gold);
  double s = 0;
  for (size_t i = 0; i < pred.size(); ++i) s += (pred[i] - gold[i]) * (pred[i] - gold[i]);
  return s / static_cast<double>(pred.size());
}

Metrics glue_metrics(GlueTask task, std::span<const int32_t> pred, std::span<const int32_t> gold) {
  const auto& info = glue_task_info(task);
  SPT_CHECK(!info.is_regression(), "[metrics] ", info.name,
            " is a regression task: score it with predicted values, not class ids");
  switch (task) {
    case GlueTask::cola:
      return {{"matthews_correlation", matthews_corrcoef(pred, gold)}};
    case GlueTask::mrpc:
    case GlueTask::qqp: {
      const double acc = accuracy(pred, gold), f1 = f1_binary(pred, gold, 1);
      return {{"accuracy", acc}, {"f1", f1}, {"combined_score", (acc + f1) / 2}};
    }
    default:
      return {{"accuracy", accuracy(pred, gold)}};
  }
}

Metrics glue_metrics(GlueTask task, std::span<const double> pred, std::span<const double> gold) {
  SPT_CHECK(task == GlueTask::stsb, "[metrics] ", glue_task_info(task).name,
            " is a classification task: score it with class ids");
  const double p = pearson(pred, gold), s = spearman(pred, gold);
  return {{"pearson", p}, {"spearmanr", s}, {"combined_score", (p + s) / 2}};
}

Metrics mnli_metrics(std::span<const int32_t> pred_matched, std::span<const int32_t> gold_matched,
                     std::span<const int32_t> pred_mismatched,
                     std::span<const int32_t> gold_mismatched) {
  return {{"accuracy", accuracy(pred_matched, gold_matched)},
          {"accuracy_mm", accuracy(pred_mismatched, gold_mismatched)}};
}

Metrics classification_metrics(std::span<const int32_t> pred, std::span<const int32_t> gold,
                               size_t num_labels) {
  Metrics m = {{"accuracy", accuracy(pred, gold)}};
  if (num_labels == 2) {
    m.emplace_back("f1", f1_binary(pred, gold, 1));
    return m;
  }
  // Macro F1 over the classes that occur in gold or predictions (sklearn's labels).
  std::vector<int32_t> classes(pred.begin(), pred.end());
  classes.insert(classes.end(), gold.begin(), gold.end());
  std::sort(classes.begin(), classes.end());
  classes.erase(std::unique(classes.begin(), classes.end()), classes.end());
  double sum = 0;
  for (const int32_t c : classes) sum += f1_of_class(pred, gold, c);
  m.emplace_back("macro_f1", sum / static_cast<double>(classes.size()));
  return m;
}

Metrics regression_metrics(std::span<const double> pred, std::span<const double> gold) {
  return {{"mse", mean_squared_error(pred, gold)},
          {"pearson", pearson(pred, gold)},
          {"spearmanr", spearman(pred, gold)}};
}

}  // namespace spt::data
