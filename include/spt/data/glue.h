// The nine GLUE tasks, read from the TSV files of the GLUE distribution
// (download_glue_data.py layout: <dir>/{train,dev,test}.tsv; MNLI dev_matched.tsv,
// dev_mismatched.tsv, test_matched.tsv, test_mismatched.tsv).
//
// The files are tab-separated with NO quoting (a quote is a literal character, as
// Hugging Face's glue script reads them with csv.QUOTE_NONE). Columns are found by
// their header name, so column order does not matter; CoLA train/dev have no header
// and are read by position (source, label, original mark, sentence). A file without
// the label column (the test files) gives an unlabeled dataset.
//
// Class ids follow Hugging Face's `glue` dataset (and so transformers' run_glue):
//   cola 0 unacceptable 1 acceptable     sst2 0 negative 1 positive
//   mrpc 0 not_equivalent 1 equivalent   qqp  0 not_duplicate 1 duplicate
//   mnli 0 entailment 1 neutral 2 contradiction
//   qnli, rte 0 entailment 1 not_entailment
//   wnli 0 not_entailment 1 entailment   stsb: float score 0..5 (regression)
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "spt/data/dataset.h"

namespace spt::data {

enum class GlueTask { cola, sst2, mrpc, qqp, stsb, mnli, qnli, rte, wnli };

struct GlueTaskInfo {
  GlueTask task;
  std::string name;    // "cola", as in the config's task.glue_task
  std::string folder;  // "CoLA": the task's folder in the GLUE distribution
  std::string text_column;   // header names
  std::string pair_column;   // "" for single-sentence tasks
  std::string label_column;
  std::vector<std::string> label_values;  // as written in the files, in class-id order
  std::vector<std::string> label_names;    // Hugging Face's names for the same ids
  std::vector<std::string> dev_files;      // MNLI: matched, then mismatched
  std::vector<std::string> metrics;        // names glue_metrics returns
  std::string main_metric;                 // the one that picks the best checkpoint

  bool is_regression() const { return label_values.empty(); }
  bool is_pair() const { return !pair_column.empty(); }
  size_t num_labels() const { return is_regression() ? 1 : label_values.size(); }
};

const std::vector<GlueTask>& all_glue_tasks();
const GlueTaskInfo& glue_task_info(GlueTask task);

// "cola", "sst2", ..., case-insensitive; also the folder names ("SST-2", "STS-B").
// Throws naming the valid names.
GlueTask parse_glue_task(std::string_view name);

// Reads one GLUE file (train, dev or test) of `task`.
TextDataset read_glue(GlueTask task, const std::filesystem::path& file,
                      const ReadOptions& opt = {});

}  // namespace spt::data
