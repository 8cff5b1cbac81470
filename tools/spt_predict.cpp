// spt-predict: runs a fine-tuned model over a data file and writes one JSON line
// per example with its logits and predicted label (or score), plus, for GLUE
// test sets, the submission TSV (index<TAB>prediction) next to the output.
//
//   spt-predict --model DIR --data FILE --output FILE [--config FILE]
//               [--batch-size N] [--max-length N] [--device cpu|cuda]
//               [--text-column C] [--pair-column C] [--label-column C]
//
// --model is an spt checkpoint (task, labels and max length come from it) or a
// plain Hugging Face folder with a sequence-classification head (labels from its
// config's id2label). Without --config a GLUE checkpoint reads the GLUE format,
// anything else a TSV/CSV/JSONL whose text column(s) --text-column / --pair-column
// name or, by default, are picked from the header as transformers' run_glue.py
// does. The default max length is capped at the model's positions.
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "spt/core/error.h"
#include "spt/core/runtime.h"
#include "spt/data/batching.h"
#include "spt/data/glue.h"
#include "spt/data/table_dataset.h"
#include "spt/data/tokenized.h"
#include "spt/io/checkpoint.h"
#include "spt/io/weight_map.h"
#include "spt/model/model.h"
#include "spt/tokenize/tokenizer.h"
#include "spt/train/config.h"

using namespace spt;
namespace fs = std::filesystem;

namespace {

struct Loaded {
  io::ModelConfig cfg;
  io::Json spt = io::Json::object();
  io::LoadedWeights weights;
  std::vector<std::pair<std::string, Tensor>> spt_tensors;  // LoRA adapters
  model::ModelOptions opts;
};

Loaded load_model(const std::string& dir) {
  Loaded l;
  if (io::is_spt_checkpoint(dir)) {
    io::LoadedCheckpoint c = io::load_checkpoint(dir);
    SPT_CHECK(c.head == io::ModelHead::sequence_classification, "[predict] ", dir, " has head ",
              io::head_name(c.head), "; spt-predict needs a classification or regression model");
    l.cfg = c.config;
    l.spt = c.spt;
    l.weights = std::move(c.weights);
    l.spt_tensors = std::move(c.spt_tensors);
    l.opts = model::ModelOptions::from_json(l.spt, "[predict] " + dir);
  } else {
    l.cfg = io::load_model_config(dir);
    SPT_CHECK(io::head_from_architectures(l.cfg) == io::ModelHead::sequence_classification, "[predict] ",
              dir, ": config.json architectures name no *ForSequenceClassification model; hint: pass "
              "a fine-tuned model (e.g. <output.dir>/final)");
    l.weights = io::load_weights(l.cfg, *io::open_tensors(dir), io::ModelHead::sequence_classification);
    SPT_CHECK(l.weights.newly_initialized.empty(), "[predict] ", dir,
              " lacks its classification head weights; hint: pass a fine-tuned model");
  }
  return l;
}

std::vector<std::string> label_names(const Loaded& l) {
  std::vector<std::string> names;
  if (l.spt.contains("label_names")) names = l.spt["label_names"].get<std::vector<std::string>>();
  if (names.empty() && l.cfg.raw.contains("id2label"))
    for (int64_t i = 0; i < l.cfg.num_labels; ++i)
      names.push_back(l.cfg.raw["id2label"].value(std::to_string(i), "LABEL_" + std::to_string(i)));
  while (static_cast<int64_t>(names.size()) < l.cfg.num_labels) names.push_back("LABEL_" + std::to_string(names.size()));
  return names;
}

}  // namespace

int main(int argc, char** argv) {
  select_blas_kernel(argv);
  CLI::App app{"spt-predict: predictions of a fine-tuned model"};
  std::string model_dir, data_file, output, config;
  std::string device = "cpu", text_column, pair_column, label_column = "label";
  int64_t batch = 64, max_length = 0;
  app.add_option("--model", model_dir, "spt checkpoint or Hugging Face folder")->required();
  app.add_option("--data", data_file, "input file")->required();
  app.add_option("--output", output, "JSONL predictions to write")->required();
  app.add_option("--config", config, "a training config whose data/tokenizer settings describe --data");
  app.add_option("--batch-size", batch, "examples per forward pass")->check(CLI::PositiveNumber);
  app.add_option("--max-length", max_length, "tokens per example (default: the checkpoint's, else 128)");
  app.add_option("--device", device, "cpu, cuda or cuda:N");
  app.add_option("--text-column", text_column,
                 "column (header name or 0-based index) with the text (default: picked from the header as "
                 "run_glue.py does: text, sentence1/sentence2, question/sentence, ..., else the one non-label column)");
  app.add_option("--pair-column", pair_column, "column with the second text of sentence pairs");
  app.add_option("--label-column", label_column, "column holding labels, never taken for text (default: label)");
  CLI11_PARSE(app, argc, argv);
  try {
    init_threads();
    const Device dev = device_from_name(device);
    Loaded l = load_model(model_dir);
    const std::vector<std::string> names = label_names(l);
    ParameterStore ps(model::model_param_infos(l.cfg, io::ModelHead::sequence_classification, l.opts), dev);
    for (const auto& [n, t] : l.weights.params) ps.param(n).copy_from(t);
    for (const auto& [n, t] : l.spt_tensors) ps.param(n).copy_from(t);
    auto net = model::make_model(l.cfg, io::ModelHead::sequence_classification, ps, l.opts);
    const auto tok = tokenize::load_tokenizer(model_dir);

    // Read the data.
    data::TextDataset text;
    std::optional<data::GlueTask> glue;
    if (l.spt.contains("glue_task")) glue = data::parse_glue_task(l.spt["glue_task"].get<std::string>());
    data::TableOptions to;
    to.kind = data::LabelKind::none;
    to.text_pair_column = "";
    if (!config.empty()) {
      const train::ResolvedConfig rc = train::load_config(config);
      if (rc.is_set("task.glue_task")) glue = data::parse_glue_task(rc.str("task.glue_task"));
      to.format = rc.str("data.format");
      to.text_column = rc.str("data.text_column");
      to.text_pair_column = rc.str("data.text_pair_column");
      to.has_header = rc.boolean("data.has_header");
      if (max_length == 0) max_length = rc.integer("tokenizer.max_length");
    }
    to.read.config_key = "--data";
    if (!text_column.empty()) {
      to.text_column = text_column;
      to.text_pair_column = pair_column;
    } else if (config.empty() && !glue) {
      const data::TextColumns picked = data::pick_text_columns(data::table_columns(data_file, to.format),
                                                               label_column, data_file);
      to.text_column = picked.text;
      to.text_pair_column = pair_column.empty() ? picked.pair : pair_column;
      spdlog::info("[predict] text from column \"{}\"{}", to.text_column,
                   to.text_pair_column.empty() ? "" : " paired with \"" + to.text_pair_column + "\"");
    }
    to.label_column = label_column;
    if (glue) {
      data::ReadOptions ro;
      ro.config_key = "--data";
      text = data::read_glue(*glue, data_file, ro);
    } else {
      text = data::read_table(data_file, to);
    }
    if (max_length == 0) {
      // The default never exceeds what the model holds.
      max_length = l.spt.value("max_length", int64_t{128});
      if (const int64_t positions = l.cfg.max_positions(); positions > 0 && max_length > positions) {
        spdlog::info("[predict] max length {} capped to the model's {} positions", max_length, positions);
        max_length = positions;
      }
    }
    data::TokenizeOptions topt;
    topt.max_length = static_cast<size_t>(max_length);
    const data::TokenizedDataset ds = data::TokenizedDataset::from_examples(text, *tok, topt);
    data::BatchOptions bo;
    bo.batch_size = static_cast<size_t>(batch);
    data::BatchIterator it(ds, bo, data::pad_id_for(*tok));

    // Predict.
    fs::create_directories(fs::absolute(output).parent_path());
    std::ofstream out(output + ".tmp");
    SPT_CHECK(out.good(), "[predict] cannot write ", output);
    std::vector<std::string> predictions;
    data::Batch b;
    size_t index = 0;
    while (it.next(b)) {
      const data::BatchTensors t = data::to_tensors(b, dev);
      model::StepContext ctx;
      ctx.keep_saved = false;  // forward only
      const Tensor& logits = net->forward({t.input_ids, t.token_type_ids, t.attention_mask}, ctx);
      const std::vector<double> lg = logits.to_doubles();
      const int64_t L = logits.dim(-1);
      for (size_t r = 0; r < b.rows; ++r, ++index) {
        io::Json rec = {{"index", index}, {"line", ds.source_line(b.indices[r])}};
        std::vector<double> row(lg.begin() + static_cast<int64_t>(r) * L, lg.begin() + static_cast<int64_t>(r + 1) * L);
        rec["logits"] = row;
        if (L == 1) {
          rec["score"] = row[0];
          predictions.push_back(str_cat(row[0]));
        } else {
          const auto best = static_cast<size_t>(std::max_element(row.begin(), row.end()) - row.begin());
          rec["label_id"] = best;
          rec["label"] = names[best];
          predictions.push_back(glue ? data::glue_task_info(*glue).label_values[best] : names[best]);
        }
        out << rec.dump() << "\n";
      }
    }
    out.close();
    fs::rename(output + ".tmp", output);
    spdlog::info("wrote {} predictions to {}", index, output);
    if (glue) {
      const std::string tsv = (fs::path(output).replace_extension(".tsv")).string();
      std::ofstream sub(tsv);
      sub << "index\tprediction\n";
      for (size_t i = 0; i < predictions.size(); ++i) sub << i << "\t" << predictions[i] << "\n";
      spdlog::info("GLUE submission file: {}", tsv);
    }
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    return 1;
  }
  return 0;
}
