// Generic TSV / CSV / JSONL classification and regression reader (see
// spt/data/table_dataset.h). Rows become examples through one Builder, which checks
// texts and labels the same way for every format.
#include "spt/data/table_dataset.h"

#include <algorithm>
#include <optional>

#include <nlohmann/json.hpp>

#include "spt/core/error.h"
#include "spt/io/json_util.h"
#include "src/data/fields.h"

namespace spt::data {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// Turns checked rows into examples; assigns class ids at the end when the label
// names come from the file itself.
class Builder {
 public:
  Builder(const TableOptions& opt, TextDataset& ds, const RowPolicy& policy)
      : opt_(opt), ds_(ds), policy_(policy), labels_(opt.label_names) {
    ds_.is_pair = !opt.text_pair_column.empty();
    ds_.label_kind = opt.kind;
    if (opt.kind == LabelKind::classification) ds_.label_names = opt.label_names;
  }

  bool full() const {
    return opt_.read.max_examples && ds_.examples.size() >= opt_.read.max_examples;
  }

  void add(size_t line, std::string text, std::string pair, const std::string& label) {
    if (detail::is_blank(text)) return bad(line, "empty text in column \"" + opt_.text_column + "\"");
    if (ds_.is_pair && detail::is_blank(pair))
      return bad(line, "empty text in column \"" + opt_.text_pair_column + "\"");
    Example ex;
    ex.line = line;
    ex.text = std::move(text);
    ex.text_pair = std::move(pair);
    if (opt_.kind == LabelKind::regression) {
      const auto v = detail::parse_float(label);
      if (!v) return bad(line, "label \"" + label + "\" is not a number");
      ex.target = *v;
    } else if (opt_.kind == LabelKind::classification) {
      if (detail::is_blank(label)) return bad(line, "empty label");
      if (!opt_.label_names.empty()) {
        const auto id = labels_.find(label);
        if (!id)
          return policy_.bad_row(
              ds_.source, line,
              str_cat("unknown label \"", label, "\" (labels: ", labels_.expected(), ")"),
              "add the label to data.label_names (and the training data), fix or delete the "
              "row, or set data.skip_bad_rows = true");
        ex.label = *id;
      } else {
        raw_labels_.push_back(label);
      }
    }
    ds_.examples.push_back(std::move(ex));
  }

  void finish() {
    if (ds_.examples.empty())
      fail("[data] ", ds_.source, " holds no usable examples", ds_.bad_rows.count ? " (" : "",
           ds_.bad_rows.summary(), ds_.bad_rows.count ? ")" : "", "; hint: check ",
           opt_.read.config_key);
    if (opt_.kind != LabelKind::classification || !opt_.label_names.empty()) return;
    ds_.label_names = detail::sorted_labels(raw_labels_);
    const detail::LabelIndex index(ds_.label_names);
    for (size_t i = 0; i < ds_.examples.size(); ++i) ds_.examples[i].label = *index.find(raw_labels_[i]);
  }

  void bad(size_t line, const std::string& what) { policy_.bad_row(ds_.source, line, what); }

 private:
  const TableOptions& opt_;
  TextDataset& ds_;
  const RowPolicy& policy_;
  detail::LabelIndex labels_;
  std::vector<std::string> raw_labels_;
};

bool all_digits(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Index of the column `spec` (header name, else 0-based index) among `columns`.
size_t resolve_column(const std::string& spec, const std::vector<std::string>* header,
                      size_t columns, const std::string& file, const char* key) {
  if (header) {
    const auto it = std::find(header->begin(), header->end(), spec);
    if (it != header->end()) return static_cast<size_t>(it - header->begin());
  }
  if (all_digits(spec) && spec.size() < 9) {
    const size_t at = std::stoul(spec);
    if (at < columns) return at;
    fail("[data] ", file, ": ", key, " = ", spec, " but rows have ", columns,
         " columns; hint: column indices start at 0");
  }
  if (!header)
    fail("[data] ", file, ": ", key, " = \"", spec,
         "\" is not a column index and the file has no header (data.has_header = false); "
         "hint: give a 0-based column index");
  fail("[data] ", file, ":1: ", key, " = \"", spec, "\" is not in the header (columns: ",
       detail::name_list(*header), "); hint: set ", key, " to a header name or 0-based index");
}

void read_delimited(const fs::path& file, FileFormat format, const TableOptions& opt,
                    TextDataset& ds, const RowPolicy& policy, Builder& out) {
  DelimitedReader reader(file, format, opt.read.config_key);
  Record rec;
  if (!reader.next(rec, policy)) return;
  const size_t columns = rec.fields.size();
  const std::vector<std::string> header = opt.has_header ? rec.fields : std::vector<std::string>{};
  const auto* h = opt.has_header ? &header : nullptr;
  const size_t text = resolve_column(opt.text_column, h, columns, ds.source, "data.text_column");
  std::optional<size_t> pair, label;
  if (ds.is_pair)
    pair = resolve_column(opt.text_pair_column, h, columns, ds.source, "data.text_pair_column");
  if (opt.kind != LabelKind::none)
    label = resolve_column(opt.label_column, h, columns, ds.source, "data.label_column");
  const char* sep = format == FileFormat::tsv ? "tab" : "comma";
  bool pending = !opt.has_header;  // without a header the first record is data
  while (!out.full() && (pending || reader.next(rec, policy))) {
    pending = false;
    if (rec.fields.size() != columns) {
      out.bad(rec.line, str_cat("expected ", columns, " ", sep, "-separated columns, got ",
                                rec.fields.size()));
      continue;
    }
    out.add(rec.line, std::move(rec.fields[text]), pair ? std::move(rec.fields[*pair]) : "",
            label ? rec.fields[*label] : "");
  }
}

// The string form of a JSON label; nullopt for arrays, objects and null.
std::optional<std::string> json_label(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_boolean() || v.is_number()) return v.dump();
  return std::nullopt;
}

void read_jsonl(const fs::path& file, const TableOptions& opt, TextDataset& ds, Builder& out) {
  LineReader lines(file, opt.read.config_key);
  std::string line;
  while (!out.full() && lines.next(line)) {
    const size_t n = lines.line_number();
    if (detail::is_blank(line)) continue;
    if (const auto bad_utf8 = utf8_problem(line); !bad_utf8.empty()) {
      out.bad(n, bad_utf8);
      continue;
    }
    if (const std::string deep = io::json_depth_problem(line); !deep.empty()) {
      out.bad(n, deep);
      continue;
    }
    json obj = json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (obj.is_discarded()) {
      out.bad(n, "invalid JSON");
      continue;
    }
    if (!obj.is_object()) {
      out.bad(n, str_cat("expected a JSON object, got ", obj.type_name()));
      continue;
    }
    std::string texts[2];
    const std::string* keys[2] = {&opt.text_column, &opt.text_pair_column};
    bool ok = true;
    for (int k = 0; k < (ds.is_pair ? 2 : 1) && ok; ++k) {
      const auto it = obj.find(*keys[k]);
      if (it == obj.end() || !it->is_string()) {
        out.bad(n, str_cat(it == obj.end() ? "missing key \"" : "key \"", *keys[k],
                           it == obj.end() ? "\"" : "\" is not a string"));
        ok = false;
      } else {
        texts[k] = it->get<std::string>();
      }
    }
    if (!ok) continue;
    std::string label;
    if (opt.kind != LabelKind::none) {
      const auto it = obj.find(opt.label_column);
      const auto value = it == obj.end() ? std::nullopt : json_label(*it);
      if (!value) {
        out.bad(n, str_cat(it == obj.end() ? "missing key \"" : "key \"", opt.label_column,
                           it == obj.end() ? "\"" : "\" is not a string, number or boolean"));
        continue;
      }
      label = *value;
    }
    out.add(n, std::move(texts[0]), std::move(texts[1]), label);
  }
}

}  // namespace

TextDataset read_table(const fs::path& file, const TableOptions& opt) {
  TextDataset ds;
  ds.source = file.string();
  const FileFormat format = resolve_format(opt.format, file);
  SPT_CHECK(format != FileFormat::text, "[data] ", ds.source,
            ": plain text is for causal LM only; hint: use a tsv, csv or jsonl file, or "
            "task.type = causal_lm");
  SPT_CHECK(opt.kind != LabelKind::causal_lm, "[data] read_table reads classification or "
                                              "regression data; use read_lm_blocks for causal LM");
  if (opt.kind == LabelKind::classification && !opt.label_names.empty()) {
    std::vector<std::string> sorted = opt.label_names;
    std::sort(sorted.begin(), sorted.end());
    SPT_CHECK(std::adjacent_find(sorted.begin(), sorted.end()) == sorted.end(),
              "[data] data.label_names lists a label twice; hint: list each label once");
  }
  const RowPolicy policy(opt.read.skip_bad_rows, ds.bad_rows);
  Builder out(opt, ds, policy);
  if (format == FileFormat::jsonl)
    read_jsonl(file, opt, ds, out);
  else
    read_delimited(file, format, opt, ds, policy, out);
  out.finish();
  return ds;
}

std::vector<std::string> table_columns(const fs::path& file, const std::string& format) {
  const FileFormat f = resolve_format(format, file);
  SPT_CHECK(f == FileFormat::tsv || f == FileFormat::csv || f == FileFormat::jsonl, "[data] ", file.string(),
            ": plain text has no columns; hint: use a tsv, csv or jsonl file");
  if (f == FileFormat::jsonl) {
    LineReader lines(file, "--data");
    std::string line;
    while (lines.next(line)) {
      if (detail::is_blank(line)) continue;
      SPT_CHECK(io::json_depth_problem(line).empty(), "[data] ", file.string(), ":", lines.line_number(), ": ",
                io::json_depth_problem(line));
      const json obj = json::parse(line, nullptr, /*allow_exceptions=*/false);
      SPT_CHECK(obj.is_object(), "[data] ", file.string(), ":", lines.line_number(),
                ": expected a JSON object; hint: JSONL holds one object per line");
      std::vector<std::string> keys;
      for (const auto& [k, v] : obj.items()) keys.push_back(k);
      return keys;
    }
    return {};
  }
  BadRows bad;
  const RowPolicy policy(false, bad);
  DelimitedReader reader(file, f, "--data");
  Record rec;
  if (!reader.next(rec, policy)) return {};
  return rec.fields;
}

TextColumns pick_text_columns(const std::vector<std::string>& columns, const std::string& label_column,
                              const std::string& file) {
  const auto has = [&](const char* c) { return std::find(columns.begin(), columns.end(), c) != columns.end(); };
  if (has("text")) return {"text", has("text_pair") ? "text_pair" : ""};
  // The column pairs of the GLUE tasks, as transformers' run_glue.py names them.
  for (const auto& [a, b] : {std::pair{"sentence1", "sentence2"}, std::pair{"question1", "question2"},
                             std::pair{"question", "sentence"}, std::pair{"premise", "hypothesis"}})
    if (has(a) && has(b)) return {a, b};
  if (has("sentence")) return {"sentence", ""};
  std::vector<std::string> rest;
  for (const std::string& c : columns)
    if (c != label_column && c != "idx" && c != "id" && c != "index") rest.push_back(c);
  if (rest.size() == 1) return {rest[0], ""};
  fail("[data] ", file, ": cannot tell which column holds the text (columns: ", detail::name_list(columns),
       "); hint: name it with --text-column (and --pair-column for sentence pairs)");
}

}  // namespace spt::data
