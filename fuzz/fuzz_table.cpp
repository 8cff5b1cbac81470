// Fuzz target: data rows (TSV, CSV, JSONL) as spt-finetune and spt-predict read
// them. The first byte picks the format, the label kind, header / no header and
// bad-row skipping; the second a GLUE task, whose reader also gets the file.
// The columns are picked from the header as spt-predict does.
#include "fuzz/fuzz_util.h"
#include "spt/data/glue.h"
#include "spt/data/table_dataset.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace spt;
  if (size < 2) return 0;
  const uint8_t mode = data[0], task = data[1];
  const std::string_view rest = fuzz::as_view(data + 2, size - 2);
  static const char* const kExt[] = {"tsv", "csv", "jsonl"};
  const std::string ext = kExt[mode % 3];
  const std::string path = fuzz::write_scratch("data." + ext, rest);
  data::TableOptions o;
  o.kind = (mode / 3) % 3 == 0   ? data::LabelKind::classification
           : (mode / 3) % 3 == 1 ? data::LabelKind::regression
                                 : data::LabelKind::none;
  o.has_header = ((mode / 9) & 1) == 0;
  o.read.skip_bad_rows = ((mode / 18) & 1) != 0;
  fuzz::refuse_clearly([&] { data::read_table(path, o); });
  fuzz::refuse_clearly([&] {
    const auto cols = data::table_columns(path);
    const data::TextColumns picked = data::pick_text_columns(cols, "label", path);
    data::TableOptions p = o;
    p.has_header = true;
    p.text_column = picked.text;
    p.text_pair_column = picked.pair;
    data::read_table(path, p);
  });
  const auto& tasks = data::all_glue_tasks();
  const std::string glue_path = fuzz::write_scratch("train.tsv", rest);
  data::ReadOptions r;
  r.skip_bad_rows = o.read.skip_bad_rows;
  fuzz::refuse_clearly([&] { data::read_glue(tasks[task % tasks.size()], glue_path, r); });
  return 0;
}
