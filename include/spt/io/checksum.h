// CRC-32C (Castagnoli, the polynomial 0x1EDC6F41 reflected: 0x82F63B78), the
// checksum of every file in an spt checkpoint's completion marker.
//
//   crc32c(0, "123456789") = 0xE3069283   (the standard check value)
//
// The SSE 4.2 crc32 instruction when the CPU has it (chosen at run time), else
// a table (the same values, slower).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace spt::io {

// Continues `crc` (0 to start) over `n` bytes.
uint32_t crc32c(uint32_t crc, const void* data, size_t n);

// The table path alone (what CPUs without SSE 4.2 run), for tests.
uint32_t crc32c_portable(uint32_t crc, const void* data, size_t n);

// The CRC-32C of a whole file, read in chunks; errors name the file.
uint32_t file_crc32c(const std::string& path);

// "e3069283": 8 lower-case hex digits.
std::string crc_hex(uint32_t crc);

}  // namespace spt::io
