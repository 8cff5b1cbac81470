// Generic classification / regression data from TSV, CSV or JSONL files.
//
// Columns (text, optional text pair, label) are named by header name (TSV/CSV with a
// header), by JSON key (JSONL: one object per line), or by 0-based index (TSV/CSV;
// an all-digit name that is not a header name is an index).
// Classification labels map to ids through `label_names` (given, e.g. the training
// set's names when reading the dev set: a label not in it is a bad row) or, when
// empty, the sorted distinct labels of the file (numerically when all are integers).
// Regression labels are parsed as floats. JSON labels may be strings, integers or
// booleans ("true"/"false"); JSON texts must be strings.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "spt/data/dataset.h"
#include "spt/data/records.h"

namespace spt::data {

struct TableOptions {
  std::string format = "auto";        // tsv, csv, jsonl, or auto (from the extension)
  std::string text_column = "text";
  std::string text_pair_column;       // "" for single texts
  std::string label_column = "label";
  bool has_header = true;             // TSV/CSV
  // classification, regression, or none (labels ignored: prediction data).
  LabelKind kind = LabelKind::classification;
  std::vector<std::string> label_names;  // classification: ids in this order
  ReadOptions read;
};

TextDataset read_table(const std::filesystem::path& file, const TableOptions& opt);

// The column names of a TSV/CSV file's header, or the keys of a JSONL file's
// first object (`format` as TableOptions::format).
std::vector<std::string> table_columns(const std::filesystem::path& file, const std::string& format = "auto");

// The text column (and pair column, "" for single texts) a file with `columns`
// most likely means, as transformers' run_glue.py picks them: "text" (with
// "text_pair"), the GLUE pairs (sentence1/sentence2, question1/question2,
// question/sentence, premise/hypothesis), "sentence", else the one column that is
// not the label or an id. Throws listing the columns when that is ambiguous.
struct TextColumns {
  std::string text, pair;
};
TextColumns pick_text_columns(const std::vector<std::string>& columns, const std::string& label_column,
                              const std::string& file);

}  // namespace spt::data
