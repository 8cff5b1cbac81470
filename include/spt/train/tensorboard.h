// TensorBoard event files for training scalars, written with the standard
// library alone (no protobuf, no TensorFlow), and a small reader for tests.
//
// File: <dir>/events.out.tfevents.<unix seconds>.<hostname>.<pid>.spt, a
// sequence of TFRecords (tensorflow/core/lib/io/record_writer.cc), each
//   uint64 length          little-endian, the size of `data`
//   uint32 masked_crc(the 8 length bytes)
//   data                   one serialized Event protobuf
//   uint32 masked_crc(data)
// with crc = CRC-32C (spt/io/checksum.h) and, in uint32 arithmetic,
//   masked_crc(x) = ((crc >> 15) | (crc << 17)) + 0xa282ead8.
//
// Event (tensorflow/core/util/event.proto), hand-encoded (key = field << 3 | wire type):
//   1 wall_time    double  wire type 1 (fixed64, little-endian)
//   2 step         int64   wire type 0 (varint; negative steps take 10 bytes)
//   3 file_version string  wire type 2 (length-delimited), "brain.Event:2" in the first event
//   5 summary      Summary wire type 2
// Summary (tensorflow/core/framework/summary.proto): repeated Value value = 1 (wire type 2);
// Value: 1 tag string (wire type 2), 2 simple_value float (wire type 5, fixed32).
// Values are stored as float32; NaN and Inf are written as they are (TensorBoard shows them).
#pragma once

#include <cstddef>
#include <cstdint>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

namespace spt::train {

class TensorBoardWriter {
 public:
  // Creates <dir> (create_directories) and the event file in it, then writes the
  // first event (wall_time, file_version "brain.Event:2"). Errors name the path.
  explicit TensorBoardWriter(const std::string& dir);

  // One Event{wall_time = now, step, summary{value{tag, simple_value = (float)value}}}.
  void scalar(const std::string& tag, double value, int64_t step);
  // Several scalars of one step in one Event (nothing is written for an empty list).
  // An empty tag is an error.
  void scalars(const std::vector<std::pair<std::string, double>>& values, int64_t step);
  // Pushes buffered records to the file so that TensorBoard sees them during training.
  void flush();

  const std::string& path() const { return path_; }

 private:
  void write_record(const std::string& data);

  std::string path_;
  std::ofstream out_;
};

// One decoded Event (fields this writer uses; others are skipped).
struct TbEvent {
  double wall_time = 0;
  int64_t step = 0;
  std::string file_version;
  std::vector<std::pair<std::string, float>> values;  // (tag, simple_value)
};

// Reads every record of an event file, checking both CRCs of each; errors name
// the file and the byte offset of the bad record.
std::vector<TbEvent> read_tensorboard_events(const std::string& path);

// masked_crc of `n` bytes (above), exposed for tests.
uint32_t tfrecord_masked_crc(const void* data, size_t n);

}  // namespace spt::train
