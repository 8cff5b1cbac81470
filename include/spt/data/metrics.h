// Evaluation metrics, as scikit-learn / SciPy compute them (and so Hugging Face's
// `evaluate` GLUE metric and transformers' run_glue):
//   accuracy            fraction of predictions equal to the gold label
//   f1                  binary F1 of the positive class: 2 TP / (2 TP + FP + FN); 0 when
//                       there are no positives at all (sklearn's zero_division)
//   matthews_correlation  multiclass MCC from the confusion matrix C (sklearn):
//                       (c s - sum_k p_k t_k) / sqrt((s^2 - sum p_k^2)(s^2 - sum t_k^2)),
//                       c = trace, s = samples, p/t = predicted/true counts; 0 when
//                       the denominator is 0
//   pearson             sum(dx dy) / sqrt(sum dx^2 sum dy^2); NaN for a constant input
//   spearmanr           Pearson of the ranks, ties given their average rank
//   mse                 mean squared error
// GLUE per task: cola matthews_correlation; sst2, qnli, rte, wnli accuracy; mrpc, qqp
// accuracy, f1, combined_score (their mean); stsb pearson, spearmanr, combined_score;
// mnli accuracy (matched) and accuracy_mm (mismatched), run_glue's names.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "spt/data/glue.h"

namespace spt::data {

// Ordered (name, value) pairs.
using Metrics = std::vector<std::pair<std::string, double>>;

// Value of `name` in `m`; throws naming the metrics there when it is missing.
double metric_value(const Metrics& m, const std::string& name);

double accuracy(std::span<const int32_t> pred, std::span<const int32_t> gold);
double f1_binary(std::span<const int32_t> pred, std::span<const int32_t> gold,
                 int32_t positive = 1);
double matthews_corrcoef(std::span<const int32_t> pred, std::span<const int32_t> gold);
double pearson(std::span<const double> x, std::span<const double> y);
double spearman(std::span<const double> x, std::span<const double> y);
double mean_squared_error(std::span<const double> pred, std::span<const double> gold);

// 1-based ranks, ties given the mean of the ranks they span (scipy's rankdata "average").
std::vector<double> average_ranks(std::span<const double> x);

// GLUE metrics of a classification task (all but stsb); predictions are class ids.
Metrics glue_metrics(GlueTask task, std::span<const int32_t> pred, std::span<const int32_t> gold);
// GLUE metrics of stsb (predicted and gold scores).
Metrics glue_metrics(GlueTask task, std::span<const double> pred, std::span<const double> gold);
// MNLI: accuracy on dev_matched and accuracy_mm on dev_mismatched.
Metrics mnli_metrics(std::span<const int32_t> pred_matched, std::span<const int32_t> gold_matched,
                     std::span<const int32_t> pred_mismatched,
                     std::span<const int32_t> gold_mismatched);

// Generic tasks: classification gives accuracy (plus f1 of class 1 with two labels and
// macro_f1 otherwise); regression gives mse, pearson, spearmanr.
Metrics classification_metrics(std::span<const int32_t> pred, std::span<const int32_t> gold,
                               size_t num_labels);
Metrics regression_metrics(std::span<const double> pred, std::span<const double> gold);

}  // namespace spt::data
