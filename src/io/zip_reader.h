// Minimal reader for the zip archives torch.save writes (internal to src/io).
//
// torch.save stores every record uncompressed ("stored", method 0), with data
// descriptors (sizes only in the central directory) and zip64 records. The
// reader takes the central directory as truth, validates every offset against
// the file size, and rejects compressed or encrypted entries: torch never
// writes them, and inflating is not needed.
#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace spt::io {

struct ZipEntry {
  uint64_t offset = 0;  // absolute offset of the entry's bytes in the file
  uint64_t size = 0;
};

// Parses the archive in buf[0, size); `what` names it in errors.
std::map<std::string, ZipEntry> read_zip_directory(const unsigned char* buf, uint64_t size,
                                                   const std::string& what);

}  // namespace spt::io
