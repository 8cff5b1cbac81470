// GLUE task table and TSV reader (see spt/data/glue.h).
//
// Per row: the column count must match the header (CoLA train/dev: 4 columns), the
// texts must be valid UTF-8 and not blank, the label one of the task's values
// (STS-B: a finite number). Anything else is a bad row for the RowPolicy.
#include "spt/data/glue.h"

#include <algorithm>
#include <cctype>
#include <optional>

#include "spt/core/error.h"
#include "spt/data/records.h"
#include "src/data/fields.h"

namespace spt::data {

namespace fs = std::filesystem;

namespace {

std::vector<GlueTaskInfo> build_table() {
  const std::vector<std::string> bin = {"0", "1"}, acc = {"accuracy"};
  const std::vector<std::string> acc_f1 = {"accuracy", "f1", "combined_score"};
  const std::vector<std::string> nli2 = {"entailment", "not_entailment"};
  const std::vector<std::string> dev = {"dev.tsv"};
  return {
      {GlueTask::cola, "cola", "CoLA", "sentence", "", "label", bin, {"unacceptable", "acceptable"},
       dev, {"matthews_correlation"}, "matthews_correlation"},
      {GlueTask::sst2, "sst2", "SST-2", "sentence", "", "label", bin, {"negative", "positive"}, dev,
       acc, "accuracy"},
      {GlueTask::mrpc, "mrpc", "MRPC", "#1 String", "#2 String", "Quality", bin,
       {"not_equivalent", "equivalent"}, dev, acc_f1, "combined_score"},
      {GlueTask::qqp, "qqp", "QQP", "question1", "question2", "is_duplicate", bin,
       {"not_duplicate", "duplicate"}, dev, acc_f1, "combined_score"},
      {GlueTask::stsb, "stsb", "STS-B", "sentence1", "sentence2", "score", {}, {}, dev,
       {"pearson", "spearmanr", "combined_score"}, "combined_score"},
      {GlueTask::mnli, "mnli", "MNLI", "sentence1", "sentence2", "gold_label",
       {"entailment", "neutral", "contradiction"}, {"entailment", "neutral", "contradiction"},
       {"dev_matched.tsv", "dev_mismatched.tsv"}, {"accuracy", "accuracy_mm"}, "accuracy"},
      {GlueTask::qnli, "qnli", "QNLI", "question", "sentence", "label", nli2, nli2, dev, acc,
       "accuracy"},
      {GlueTask::rte, "rte", "RTE", "sentence1", "sentence2", "label", nli2, nli2, dev, acc,
       "accuracy"},
      {GlueTask::wnli, "wnli", "WNLI", "sentence1", "sentence2", "label", bin,
       {"not_entailment", "entailment"}, dev, acc, "accuracy"},
  };
}

const std::vector<GlueTaskInfo>& table() {
  static const std::vector<GlueTaskInfo> t = build_table();
  return t;
}

std::string lower_alnum(std::string_view s) {
  std::string out;
  for (const char c : s)
    if (std::isalnum(static_cast<unsigned char>(c)))
      out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Column positions of one file.
struct Layout {
  size_t columns = 0;
  size_t text = 0;
  std::optional<size_t> pair, label;
};

std::optional<size_t> find_column(const std::vector<std::string>& header, const std::string& name) {
  const auto it = std::find(header.begin(), header.end(), name);
  if (it == header.end()) return std::nullopt;
  return static_cast<size_t>(it - header.begin());
}

Layout layout_from_header(const GlueTaskInfo& info, const std::vector<std::string>& header,
                          const std::string& file) {
  const auto need = [&](const std::string& name) {
    const auto at = find_column(header, name);
    if (!at)
      fail("[data] ", file, ":1: the header has no column \"", name, "\" (columns: ",
           detail::name_list(header), "); hint: give the ", info.folder,
           " file of the GLUE distribution, or check task.glue_task");
    return *at;
  };
  Layout l;
  l.columns = header.size();
  l.text = need(info.text_column);
  if (info.is_pair()) l.pair = need(info.pair_column);
  l.label = find_column(header, info.label_column);
  return l;
}

}  // namespace

const std::vector<GlueTask>& all_glue_tasks() {
  static const std::vector<GlueTask> all = {GlueTask::cola, GlueTask::sst2, GlueTask::mrpc,
                                            GlueTask::qqp,  GlueTask::stsb, GlueTask::mnli,
                                            GlueTask::qnli, GlueTask::rte,  GlueTask::wnli};
  return all;
}

const GlueTaskInfo& glue_task_info(GlueTask task) { return table().at(static_cast<size_t>(task)); }

GlueTask parse_glue_task(std::string_view name) {
  const std::string key = lower_alnum(name);
  for (const auto& t : table())
    if (key == t.name) return t.task;
  fail("[data] unknown GLUE task \"", name,
       "\"; hint: use one of cola, sst2, mrpc, qqp, stsb, mnli, qnli, rte, wnli");
}

TextDataset read_glue(GlueTask task, const fs::path& file, const ReadOptions& opt) {
  const GlueTaskInfo& info = glue_task_info(task);
  TextDataset ds;
  ds.source = file.string();
  ds.is_pair = info.is_pair();
  DelimitedReader reader(file, FileFormat::tsv, opt.config_key);
  const RowPolicy policy(opt.skip_bad_rows, ds.bad_rows);

  Record rec;
  Layout layout;
  bool have_first = reader.next(rec, policy);
  if (!have_first) fail("[data] ", ds.source, " holds no rows; hint: check ", opt.config_key);
  // CoLA train/dev are headerless (source, label, mark, sentence); its test file has
  // the header "index<TAB>sentence".
  const bool positional =
      task == GlueTask::cola && !(rec.fields.size() == 2 && rec.fields[0] == "index");
  if (positional) {
    layout = {4, 3, std::nullopt, 1};
  } else {
    layout = layout_from_header(info, rec.fields, ds.source);
    have_first = false;  // the header is not an example
  }
  if (!layout.label && opt.require_labels)
    fail("[data] ", ds.source, ": no label column \"", info.label_column,
         "\" (is this a test file?); hint: point ", opt.config_key, " at the labeled ",
         info.folder, " train/dev file");
  ds.label_kind = !layout.label        ? LabelKind::none
                  : info.is_regression() ? LabelKind::regression
                                         : LabelKind::classification;
  if (ds.label_kind == LabelKind::classification) ds.label_names = info.label_names;
  const detail::LabelIndex labels(info.label_values);

  const auto text_ok = [&](const std::string& text, const std::string& column) {
    if (!detail::is_blank(text)) return true;
    policy.bad_row(ds.source, rec.line, str_cat("empty text in column \"", column, "\""));
    return false;
  };
  while (have_first || reader.next(rec, policy)) {
    have_first = false;
    if (rec.fields.size() != layout.columns) {
      policy.bad_row(ds.source, rec.line,
                     str_cat("expected ", layout.columns, " tab-separated columns, got ",
                             rec.fields.size()));
      continue;
    }
    Example ex;
    ex.line = rec.line;
    ex.text = std::move(rec.fields[layout.text]);
    if (!text_ok(ex.text, positional ? "sentence (4th)" : info.text_column)) continue;
    if (layout.pair) {
      ex.text_pair = std::move(rec.fields[*layout.pair]);
      if (!text_ok(ex.text_pair, info.pair_column)) continue;
    }
    if (layout.label) {
      const std::string& raw = rec.fields[*layout.label];
      if (info.is_regression()) {
        const auto v = detail::parse_float(raw);
        if (!v) {
          policy.bad_row(ds.source, rec.line,
                         str_cat("score \"", raw, "\" in column \"", info.label_column,
                                 "\" is not a number"));
          continue;
        }
        ex.target = *v;
      } else {
        const auto id = labels.find(raw);
        if (!id) {
          policy.bad_row(ds.source, rec.line,
                         str_cat("unknown label \"", raw, "\" in column \"", info.label_column,
                                 "\"; ", info.name, " labels are ", labels.expected()));
          continue;
        }
        ex.label = *id;
      }
    }
    ds.examples.push_back(std::move(ex));
    if (opt.max_examples && ds.examples.size() >= opt.max_examples) break;
  }
  if (ds.examples.empty())
    fail("[data] ", ds.source, " holds no usable examples", ds.bad_rows.count ? " (" : "",
         ds.bad_rows.summary(), ds.bad_rows.count ? ")" : "", "; hint: check ", opt.config_key);
  return ds;
}

}  // namespace spt::data
