// Line, TSV and CSV record readers (see spt/data/records.h).
//
// CSV follows RFC 4180: a field that starts with " runs to the next lone ", with ""
// standing for one quote, and may span lines; after the closing quote only a comma
// or the end of the line may follow. A quote inside an unquoted field is literal
// (as Python's csv module reads it).
#include "spt/data/records.h"

#include <system_error>

#include "spt/core/error.h"
#include "spt/tokenize/utf8.h"

namespace spt::data {

namespace fs = std::filesystem;

const char* to_string(FileFormat f) {
  switch (f) {
    case FileFormat::tsv: return "tsv";
    case FileFormat::csv: return "csv";
    case FileFormat::jsonl: return "jsonl";
    case FileFormat::text: return "text";
  }
  return "?";
}

FileFormat resolve_format(std::string_view name, const fs::path& file) {
  if (name == "tsv") return FileFormat::tsv;
  if (name == "csv") return FileFormat::csv;
  if (name == "jsonl") return FileFormat::jsonl;
  if (name == "text") return FileFormat::text;
  if (name != "auto")
    fail("[data] unknown data.format \"", name, "\"; hint: use auto, tsv, csv, jsonl or text");
  const std::string ext = file.extension().string();
  if (ext == ".tsv") return FileFormat::tsv;
  if (ext == ".csv") return FileFormat::csv;
  if (ext == ".jsonl" || ext == ".ndjson" || ext == ".json") return FileFormat::jsonl;
  if (ext == ".txt" || ext == ".text" || ext == ".raw") return FileFormat::text;
  fail("[data] cannot tell the format of ", file.string(), " from its extension \"", ext,
       "\"; hint: set data.format to tsv, csv, jsonl or text");
}

void require_file(const fs::path& file, std::string_view config_key) {
  std::error_code ec;
  const auto st = fs::status(file, ec);
  if (!fs::exists(st))
    fail("[data] ", config_key, ": ", file.string(), " not found; hint: set ", config_key,
         " to an existing file (relative paths resolve against the config file's folder)");
  if (fs::is_directory(st))
    fail("[data] ", config_key, ": ", file.string(), " is a folder, not a file; hint: set ",
         config_key, " to the data file itself");
}

LineReader::LineReader(const fs::path& file, std::string_view config_key)
    : file_(file.string()) {
  require_file(file, config_key);
  in_.open(file, std::ios::binary);
  if (!in_)
    fail("[data] ", config_key, ": cannot open ", file_,
         " for reading; hint: check the file's permissions");
}

bool LineReader::next(std::string& line) {
  if (!std::getline(in_, line)) {
    if (in_.bad()) fail("[data] ", file_, ": read error after line ", line_no_);
    return false;
  }
  ++line_no_;
  SPT_CHECK(line.size() <= kMaxLineBytes, "[data] ", file_, ":", line_no_, ": the line has ", line.size(),
            " bytes, more than the limit of ", kMaxLineBytes, " (16 MiB); hint: is this a text file with one "
            "example per line? (a binary file, or line breaks lost)");
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (line_no_ == 1 && line.starts_with("\xEF\xBB\xBF")) line.erase(0, 3);
  return true;
}

std::string utf8_problem(std::string_view s) {
  const size_t at = tokenize::utf8_invalid_at(s);
  if (at == tokenize::kUtf8Valid) return "";
  return str_cat("invalid UTF-8 at byte ", at + 1, " of the line");
}

DelimitedReader::DelimitedReader(const fs::path& file, FileFormat format,
                                 std::string_view config_key)
    : lines_(file, config_key), format_(format) {
  SPT_CHECK(format == FileFormat::tsv || format == FileFormat::csv,
            "[data] DelimitedReader reads tsv or csv, not ", to_string(format));
}

bool DelimitedReader::next(Record& out, const RowPolicy& policy) {
  std::string line;
  while (lines_.next(line)) {
    if (line.empty()) continue;
    out.line = lines_.line_number();
    out.fields.clear();
    std::string problem;
    if (format_ == FileFormat::tsv) {
      problem = utf8_problem(line);
      size_t start = 0;
      for (;;) {
        const size_t tab = line.find('\t', start);
        out.fields.emplace_back(line, start, tab == std::string::npos ? std::string::npos
                                                                      : tab - start);
        if (tab == std::string::npos) break;
        start = tab + 1;
      }
    } else {
      problem = parse_csv(std::move(line), out.fields);
    }
    if (problem.empty()) return true;
    policy.bad_row(file(), out.line, problem);
  }
  return false;
}

std::string DelimitedReader::parse_csv(std::string line, std::vector<std::string>& fields) {
  const size_t start_line = lines_.line_number();
  std::string problem = utf8_problem(line);
  std::string field;
  size_t i = 0;
  for (;;) {
    field.clear();
    if (i < line.size() && line[i] == '"') {
      ++i;
      for (;;) {  // inside quotes
        if (i == line.size()) {
          std::string more;
          if (!lines_.next(more))
            return str_cat("unterminated quoted field (the quote opened on line ", start_line,
                           " is never closed)");
          if (problem.empty()) {
            problem = utf8_problem(more);
            if (!problem.empty()) problem += str_cat(" (line ", lines_.line_number(), ")");
          }
          field += '\n';
          line = std::move(more);
          i = 0;
          continue;
        }
        if (line[i] == '"') {
          if (i + 1 < line.size() && line[i + 1] == '"') {
            field += '"';
            i += 2;
            continue;
          }
          ++i;
          break;
        }
        field += line[i++];
      }
      if (i < line.size() && line[i] != ',' && problem.empty())
        problem = str_cat("unexpected character '", line[i], "' after a closing quote in field ",
                          fields.size() + 1, " (a quote inside a quoted field is written \"\")");
      while (i < line.size() && line[i] != ',') ++i;  // resynchronise at the next comma
    } else {
      const size_t comma = line.find(',', i);
      const size_t end = comma == std::string::npos ? line.size() : comma;
      field.assign(line, i, end - i);
      i = end;
    }
    fields.push_back(field);
    if (i >= line.size()) break;
    ++i;  // the comma
    if (i == line.size()) {  // trailing comma: one more empty field
      fields.emplace_back();
      break;
    }
  }
  return problem;
}

}  // namespace spt::data
