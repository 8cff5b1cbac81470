// Scanning product-quantised keys with 8-bit look-up tables (the approximate
// scores of sparse attention's key selection).
//
// score_j = sum_m lut[m * C + code_{j,m}], a 16-bit integer (the tables are
// quantised so that the sum cannot overflow, see sparse::lut_scale).
//
// With C = 16 codewords the codes are packed 4 bits each, FAISS's "fast scan"
// layout (Andre et al., PVLDB 2015; faiss/impl/pq4_fast_scan.h): keys in blocks
// of 32, sub-spaces padded to a multiple of 4 with zero tables; for each pair of
// sub-spaces (2p, 2p+1) a block holds 32 bytes, bytes 0-15 for sub-space 2p and
// 16-31 for 2p+1, byte t holding key t in its low nibble and key t + 16 in its
// high nibble. One in-register byte shuffle (pshufb) then does 32 table look-ups
// (AVX2) or 64 (AVX-512BW); the sums are kept in 16-bit lanes. Other codebook
// sizes keep one byte per code and use the plain loop. Every path returns the
// same integers (tests/test_sparse_attention.cpp checks them against each other).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace spt::cpu {

struct PqCodes {
  int64_t n = 0;       // keys
  int64_t m = 0;       // sub-spaces
  int64_t cw = 0;      // codewords
  int64_t m_pad = 0;   // packed layout: sub-spaces rounded up to a multiple of 4
  bool packed = false; // 4-bit fast-scan layout (cw == 16)
  std::vector<uint8_t> bytes;

  // From raw codes (codes[j * m + s]).
  static PqCodes pack(const uint8_t* codes, int64_t n, int64_t m, int64_t cw);
};

// scores[j] for j < end (end <= codes.n); lut is (m, cw) bytes. The fast-scan
// kernels store whole blocks of 32: scores must have room for end rounded up to
// a multiple of 32, and the entries past end may be overwritten.
void pq_scan(uint16_t* scores, const PqCodes& codes, const uint8_t* lut, int64_t end);

// The scan kernel in use ("avx512bw", "avx2" or "scalar"); SPT_PQ_SCAN forces
// one (tests run every kernel the CPU has).
std::string pq_scan_kernel();
void set_pq_scan_kernel(const std::string& name);  // "" = best available

}  // namespace spt::cpu
