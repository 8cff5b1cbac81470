// TorchBinReader: zip directory -> restricted unpickle -> strided tensor views
// checked against their storages.
#include "spt/io/torch_bin.h"

#include <cstring>
#include <fstream>

#include "pickle.h"
#include "spt/core/error.h"
#include "zip_reader.h"

namespace spt::io {

namespace {

constexpr uint64_t kMaxExpandedBytes = uint64_t{256} << 20;
const char* kHint = "; hint: re-save the checkpoint with torch.save(model.state_dict()) or as "
                    "safetensors";

// Row-major strides of `shape`, or whether `stride` equals them (size-1 dims free).
bool is_row_major(const Shape& shape, const Shape& stride) {
  int64_t expect = 1;
  for (size_t d = shape.size(); d-- > 0;) {
    if (shape[d] != 1 && stride[d] != expect) return false;
    expect *= shape[d];
  }
  return true;
}

}  // namespace

bool looks_like_zip(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char sig[4] = {};
  in.read(sig, 4);
  return in.gcount() == 4 && std::memcmp(sig, "PK\3\4", 4) == 0;
}

TorchBinReader::TorchBinReader(const std::string& path)
    : TensorReader(path), file_(path, "torch-bin") {
  const std::string what = "[torch-bin] " + path;
  SPT_CHECK(file_.size() >= 4 && std::memcmp(file_.data(), "PK\3\4", 4) == 0, what,
            " is not a zip archive (torch.save format since PyTorch 1.6)", kHint);
  const auto entries = read_zip_directory(file_.data(), file_.size(), what);

  // Every record sits under one top-level folder named after the file's stem.
  std::string prefix;
  for (const auto& [name, e] : entries) {
    const size_t slash = name.find('/');
    if (slash != std::string::npos && name.compare(slash + 1, std::string::npos, "data.pkl") == 0)
      prefix = name.substr(0, slash + 1);
  }
  SPT_CHECK(!prefix.empty(), what, ": no <name>/data.pkl record", kHint);
  if (auto bo = entries.find(prefix + "byteorder"); bo != entries.end()) {
    const std::string order(reinterpret_cast<const char*>(file_.data() + bo->second.offset),
                            bo->second.size);
    SPT_CHECK(order == "little", what, ": byte order '", order, "' is not supported", kHint);
  }
  const ZipEntry& pkl = entries.at(prefix + "data.pkl");
  const PyRef root = unpickle(file_.data() + pkl.offset, pkl.size, what);
  SPT_CHECK(root->kind == PyObject::Kind::dict, what, ": the pickle holds a ",
            py_kind_name(*root), ", not a state dict", kHint);

  uint64_t expanded_bytes = 0;  // bytes of views larger than their storage, over the file
  for (const auto& [k, v] : root->entries) {
    SPT_CHECK(k->kind == PyObject::Kind::string, what, ": state dict key is a ",
              py_kind_name(*k), ", not a string", kHint);
    SPT_CHECK(v->kind == PyObject::Kind::tensor, what, ": entry \"", k->s, "\" is a ",
              py_kind_name(*v), ", not a tensor", kHint);
    const PyObject& st = *v->items[0];
    const std::string rec = prefix + "data/" + st.s;
    auto it = entries.find(rec);
    SPT_CHECK(it != entries.end(), what, ": tensor \"", k->s, "\" needs storage record ", rec,
              ", which is missing", kHint);
    const uint64_t esize = stored_dtype_size(st.dtype);
    SPT_CHECK(static_cast<uint64_t>(st.numel) <= it->second.size / esize &&
                  it->second.size == static_cast<uint64_t>(st.numel) * esize,
              what, ": storage ", rec, " holds ", it->second.size, " bytes, not ", st.numel,
              " x ", esize, kHint);
    // The view must stay inside its storage: offset + sum((size-1)*stride) < numel.
    View view{it->second.offset, v->offset, v->stride, is_row_major(v->shape, v->stride)};
    int64_t numel = 1;
    uint64_t last = static_cast<uint64_t>(v->offset);
    for (size_t d = 0; d < v->shape.size(); ++d) {
      const int64_t n = v->shape[d];
      SPT_CHECK(n == 0 || numel <= INT64_MAX / n, what, ": tensor \"", k->s, "\" too large", kHint);
      numel *= n;
      if (n > 0) {
        const uint64_t step = static_cast<uint64_t>(v->stride[d]);
        SPT_CHECK(step == 0 || static_cast<uint64_t>(n - 1) <= (UINT64_MAX - last) / step, what,
                  ": tensor \"", k->s, "\" strides overflow", kHint);
        last += static_cast<uint64_t>(n - 1) * step;
      }
    }
    SPT_CHECK(numel == 0 || last < static_cast<uint64_t>(st.numel), what, ": tensor \"", k->s,
              "\" (shape ", shape_str(v->shape), ", stride ", shape_str(v->stride), ", offset ",
              v->offset, ") reaches past its storage of ", st.numel, " elements", kHint);
    // A view may repeat its storage (stride 0, as BERT's expanded position_ids
    // buffer), but not blow a small file up: such views hold at most 256 MiB in
    // all, whatever the file's size.
    if (numel > st.numel) {
      expanded_bytes += static_cast<uint64_t>(numel) <= kMaxExpandedBytes / esize ? static_cast<uint64_t>(numel) * esize
                                                                                   : kMaxExpandedBytes + 1;
      SPT_CHECK(expanded_bytes <= kMaxExpandedBytes, what, ": tensor \"", k->s, "\" (shape ", shape_str(v->shape),
                ", stride ", shape_str(v->stride), ") repeats its storage of ", st.numel, " elements into ", numel,
                "; views larger than their storage may hold 256 MiB in all, and a state dict holds no such "
                "tensor", kHint);
    }
    TensorInfo info;
    info.name = k->s;
    info.dtype = st.dtype;
    info.shape = v->shape;
    info.slot = views_.size();
    views_.push_back(std::move(view));
    add(std::move(info), "torch-bin");
  }
}

const unsigned char* TorchBinReader::bytes(const TensorInfo& t,
                                           std::vector<unsigned char>& scratch) const {
  const View& v = views_[t.slot];
  const size_t esize = stored_dtype_size(t.dtype);
  const unsigned char* base = file_.data() + v.storage_at;
  if (t.numel() == 0) return base;  // an empty view's offset is not checked against the storage
  if (v.contiguous) return base + static_cast<size_t>(v.offset) * esize;
  // Gather a strided view (e.g. a transposed weight) element by element.
  const int64_t numel = t.numel();
  scratch.resize(static_cast<size_t>(numel) * esize);
  const size_t nd = t.shape.size();
  std::vector<int64_t> idx(nd, 0);
  for (int64_t i = 0; i < numel; ++i) {
    int64_t src = v.offset;
    for (size_t d = 0; d < nd; ++d) src += idx[d] * v.stride[d];
    std::memcpy(scratch.data() + static_cast<size_t>(i) * esize,
                base + static_cast<size_t>(src) * esize, esize);
    for (size_t d = nd; d-- > 0;) {
      if (++idx[d] < t.shape[d]) break;
      idx[d] = 0;
    }
  }
  return scratch.data();
}

}  // namespace spt::io
