// Reading data files record by record: numbered lines (UTF-8 BOM and CR removed),
// TSV records (split at tabs, NO quoting: a quote is a literal character, as the
// GLUE files and Python's csv.QUOTE_NONE need) and CSV records (RFC 4180: fields in
// double quotes may hold commas, line breaks and "" for a quote).
//
// Line numbers are 1-based; a CSV record spanning lines reports the line it starts on.
#pragma once

#include <cstddef>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "spt/data/bad_rows.h"

namespace spt::data {

enum class FileFormat { tsv, csv, jsonl, text };

const char* to_string(FileFormat f);

// "tsv", "csv", "jsonl", "text", or "auto": from the extension of `file` (.tsv, .csv,
// .jsonl/.ndjson/.json, .txt/.text/.raw). Throws naming data.format otherwise.
FileFormat resolve_format(std::string_view name, const std::filesystem::path& file);

// Throws "[data] <key>: <file> not found; hint: ..." unless `file` is a readable file.
// `config_key` names the setting that gave the path (e.g. "data.train").
void require_file(const std::filesystem::path& file, std::string_view config_key);

// The longest line a data file may have (an example is a line, or a few).
constexpr size_t kMaxLineBytes = size_t{16} << 20;

// A file's lines, without the line break (\n or \r\n) and without a leading UTF-8 BOM.
// A line over kMaxLineBytes is an error naming the file and line.
class LineReader {
 public:
  LineReader(const std::filesystem::path& file, std::string_view config_key);

  // Next line into `line`; false at the end of the file.
  bool next(std::string& line);
  size_t line_number() const { return line_no_; }  // of the last line read
  const std::string& file() const { return file_; }

 private:
  std::string file_;
  std::ifstream in_;
  size_t line_no_ = 0;
};

struct Record {
  size_t line = 0;  // where the record starts
  std::vector<std::string> fields;
};

// TSV or CSV records; blank lines are skipped.
class DelimitedReader {
 public:
  DelimitedReader(const std::filesystem::path& file, FileFormat format,
                  std::string_view config_key);

  // Next well-formed record; false at the end. Records with invalid UTF-8 or broken
  // CSV quoting go to `policy` (which throws, or counts them and reading goes on).
  bool next(Record& out, const RowPolicy& policy);
  const std::string& file() const { return lines_.file(); }

 private:
  // Splits `line` (and the lines a quoted field continues on) into out.fields;
  // returns what is wrong, or "".
  std::string parse_csv(std::string line, std::vector<std::string>& fields);

  LineReader lines_;
  FileFormat format_;
};

// "" when `s` is valid UTF-8, else "invalid UTF-8 at byte N of the line".
std::string utf8_problem(std::string_view s);

}  // namespace spt::data
