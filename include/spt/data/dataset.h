// Examples read from a data file, before tokenisation: one text or a text pair, and
// a class id (classification), a float target (regression) or no label (GLUE test
// files, prediction).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "spt/data/bad_rows.h"

namespace spt::data {

enum class LabelKind {
  none,            // unlabeled
  classification,  // Example::label = class id into label_names
  regression,      // Example::target
  causal_lm,       // labels are the input ids (see lm_text.h)
};

const char* to_string(LabelKind k);

struct Example {
  std::string text;
  std::string text_pair;  // used when TextDataset::is_pair
  int32_t label = -1;     // class id (classification)
  float target = 0.0f;    // regression target
  size_t line = 0;        // where the row starts in the source file
};

struct TextDataset {
  std::string source;                   // the file read
  LabelKind label_kind = LabelKind::none;
  std::vector<std::string> label_names;  // classification: id -> name, in id order
  bool is_pair = false;
  std::vector<Example> examples;
  BadRows bad_rows;  // rows skipped (skip_bad_rows)

  size_t size() const { return examples.size(); }
};

// Options every reader takes.
struct ReadOptions {
  bool skip_bad_rows = false;  // count and skip malformed rows instead of throwing
  size_t max_examples = 0;     // keep the first N examples (0: all)
  // GLUE: throw when the file has no label column (a test file given for training).
  bool require_labels = false;
  std::string config_key = "data.train";  // the setting that named the file, for hints
};

}  // namespace spt::data
