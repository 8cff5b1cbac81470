// The NCCL back-end of spt::comm: collectives on CUDA tensors run as NCCL
// kernels on the backend's stream of this rank's GPU (one GPU per rank; NCCL
// refuses two ranks on one device). Host data (loss scalars, predictions,
// metrics) is staged through a device buffer, so NCCL alone serves the run.
//
// The NCCL unique id reaches the ranks through MPI when mpirun started them, or
// through a file rendezvous when they were started without MPI (srun on a
// cluster without PMIx): rank 0 writes the id atomically to
// <rendezvous dir>/nccl-id-<job>-<step>-<restart>, the others wait for it.
//
// Every blocking call ends with a stream synchronisation under the watchdog, so
// a rank that dies or hangs makes the others stop after the timeout. The
// gradient buckets (all_reduce_start) run on a second, communication stream
// behind an event of the compute stream, overlapping the rest of backward.
#include <nccl.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "backend_impl.h"
#include "cuda_check.h"
#include "spt/core/error.h"
#include "src/comm/comm_impl.h"

namespace spt::comm {

namespace {

namespace fs = std::filesystem;

void check_nccl(ncclResult_t rc, const char* what) {
  if (rc == ncclSuccess) return;
  std::string msg = str_cat("[comm] ", what, " failed: ", ncclGetErrorString(rc));
  if (const char* last = ncclGetLastError(nullptr); last != nullptr && *last) msg += str_cat(" (", last, ")");
  if (rc == ncclInvalidUsage)
    msg += "; hint: each rank needs its own GPU (runtime.device = \"cuda\" takes cuda:<local rank>); to run several "
           "ranks on one GPU use runtime.comm = \"mpi\"";
  throw Error(msg);
}

ncclDataType_t nccl_type(DType t) {
  switch (t) {
    case DType::f32: return ncclFloat32;
    case DType::f64: return ncclFloat64;
    case DType::i32: return ncclInt32;
    case DType::i64: return ncclInt64;
    default: break;
  }
  throw Error(str_cat("[comm] NCCL: dtype ", dtype_name(t), " is not supported (f32, f64, i32, i64)"));
}

ncclRedOp_t nccl_op(ReduceOp op) { return op == ReduceOp::sum ? ncclSum : ncclMax; }

// The id file of this launch: job, step and restart distinguish a requeued or
// repeated run from a stale file.
fs::path id_file(const std::string& dir) {
  auto env = [](const char* k, const char* d) {
    const char* v = std::getenv(k);
    return std::string(v && *v ? v : d);
  };
  return fs::path(dir) / str_cat("nccl-id-", env("SLURM_JOB_ID", "local"), "-", env("SLURM_STEP_ID", "0"), "-",
                                 env("SLURM_RESTART_COUNT", "0"));
}

ncclUniqueId rendezvous_id(const World& w, const std::string& dir, double timeout_s) {
  ncclUniqueId id{};
  const fs::path file = id_file(dir);
  if (w.rank == 0) {
    check_nccl(ncclGetUniqueId(&id), "ncclGetUniqueId");
    fs::create_directories(dir);
    const fs::path tmp = fs::path(file.string() + ".tmp" + std::to_string(getpid()));
    std::ofstream(tmp, std::ios::binary).write(id.internal, sizeof id.internal);
    fs::rename(tmp, file);  // atomic: the others never read half an id
    return id;
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s > 0 ? timeout_s : 1e9);
  while (!fs::exists(file)) {
    SPT_CHECK(std::chrono::steady_clock::now() < deadline, "[comm] rank ", w.rank, ": rank 0 wrote no NCCL id to ",
              file.string(), " within ", timeout_s, " s; hint: runtime.rendezvous_dir must be a folder every rank "
              "sees (a shared file system), and rank 0 must have started");
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  std::ifstream in(file, std::ios::binary);
  in.read(id.internal, sizeof id.internal);
  SPT_CHECK(in.gcount() == sizeof id.internal, "[comm] ", file.string(), ": a truncated NCCL id");
  return id;
}

class NcclComm final : public Communicator {
 public:
  NcclComm(const World& w, int device, Communicator* bootstrap, const std::string& rendezvous_dir, double timeout_s)
      : Communicator(w), device_(device) {
    timeout_s_ = timeout_s;
    be_ = dynamic_cast<cuda::CudaBackend*>(&backend_for(Device::cuda(device)));
    SPT_CHECK(be_ != nullptr, "[comm] NCCL needs the CUDA backend for cuda:", device);
    ncclUniqueId id{};
    if (bootstrap != nullptr && bootstrap->size() == w.size) {
      std::string s;
      if (w.rank == 0) {
        check_nccl(ncclGetUniqueId(&id), "ncclGetUniqueId");
        s.assign(id.internal, sizeof id.internal);
      }
      bootstrap->broadcast(s, 0);
      SPT_CHECK(s.size() == sizeof id.internal, "[comm] the NCCL id from rank 0 has ", s.size(), " bytes");
      std::copy(s.begin(), s.end(), id.internal);
    } else {
      id = rendezvous_id(w, rendezvous_dir, timeout_s);
    }
    const cuda::DeviceGuard guard(device_);
    watchdog_ = std::make_unique<Watchdog>(w);
    {
      Watched wd(*watchdog_, "ncclCommInitRank", sizeof id.internal, timeout_s_);
      check_nccl(ncclCommInitRank(&comm_, w.size, id, w.rank), "ncclCommInitRank");
    }
    // Every rank has joined, so every rank has read the id: a later run must not find it.
    if (bootstrap == nullptr && w.rank == 0) {
      std::error_code ec;
      fs::remove(id_file(rendezvous_dir), ec);
    }
    SPT_CUDA_CHECK(cudaStreamCreateWithFlags(&comm_stream_, cudaStreamNonBlocking));
    SPT_CUDA_CHECK(cudaEventCreateWithFlags(&ready_, cudaEventDisableTiming));
    SPT_CUDA_CHECK(cudaEventCreateWithFlags(&done_, cudaEventDisableTiming));
  }

  ~NcclComm() override {
    const cuda::DeviceGuard guard(device_);
    if (comm_stream_ != nullptr) cudaStreamSynchronize(comm_stream_);
    if (comm_ != nullptr) ncclCommDestroy(comm_);
    if (ready_ != nullptr) cudaEventDestroy(ready_);
    if (done_ != nullptr) cudaEventDestroy(done_);
    if (comm_stream_ != nullptr) cudaStreamDestroy(comm_stream_);
  }

  // On the communication stream, after everything queued so far on the compute
  // stream (the gradients of the blocks done): overlaps the rest of backward.
  void all_reduce_start(Tensor& t) override {
    if (t.device() != Device::cuda(device_) || !t.is_contiguous()) {
      all_reduce(t, ReduceOp::sum);
      return;
    }
    const cuda::DeviceGuard guard(device_);
    SPT_CUDA_CHECK(cudaEventRecord(ready_, be_->stream()));
    SPT_CUDA_CHECK(cudaStreamWaitEvent(comm_stream_, ready_, 0));
    check_nccl(ncclAllReduce(t.data_ptr(), t.data_ptr(), static_cast<size_t>(t.numel()), nccl_type(t.dtype()),
                             ncclSum, comm_, comm_stream_),
               "ncclAllReduce");
    pending_bytes_ += t.nbytes();
  }

  void wait_pending() override {
    if (pending_bytes_ == 0) return;
    const cuda::DeviceGuard guard(device_);
    SPT_CUDA_CHECK(cudaEventRecord(done_, comm_stream_));
    SPT_CUDA_CHECK(cudaStreamWaitEvent(be_->stream(), done_, 0));  // the optimizer step waits for the sums
    Watched wd(*watchdog_, "all_reduce (overlapped)", pending_bytes_, timeout_s_);
    SPT_CUDA_CHECK(cudaStreamSynchronize(comm_stream_));
    pending_bytes_ = 0;
  }

  const char* backend() const override { return "nccl"; }

  void all_reduce(Tensor& t, ReduceOp op) override {
    SPT_CHECK(t.defined() && t.is_contiguous(), "[comm] all_reduce needs a contiguous tensor");
    Tensor d = on_device(t);
    const cuda::DeviceGuard guard(device_);
    check_nccl(ncclAllReduce(d.data_ptr(), d.data_ptr(), static_cast<size_t>(d.numel()), nccl_type(d.dtype()),
                             nccl_op(op), comm_, be_->stream()),
               "ncclAllReduce");
    finish("all_reduce", d.nbytes());
    if (!d.same_storage(t)) t.copy_from(d);
  }

  void all_reduce(std::span<double> v, ReduceOp op) override {
    Tensor t = Tensor::from_doubles(std::vector<double>(v.begin(), v.end()), {static_cast<int64_t>(v.size())},
                                    DType::f64);
    all_reduce(t, op);
    const std::vector<double> r = t.to_doubles();
    std::copy(r.begin(), r.end(), v.begin());
  }

  void all_reduce(std::span<int64_t> v, ReduceOp op) override {
    std::vector<int64_t> copy(v.begin(), v.end());
    Tensor t = Tensor::from_ints(copy, {static_cast<int64_t>(v.size())}, DType::i64);
    all_reduce(t, op);
    const std::vector<int64_t> r = t.to_ints();
    std::copy(r.begin(), r.end(), v.begin());
  }

  void broadcast(Tensor& t, int root) override {
    SPT_CHECK(t.defined() && t.is_contiguous(), "[comm] broadcast needs a contiguous tensor");
    Tensor d = on_device(t);
    const cuda::DeviceGuard guard(device_);
    check_nccl(ncclBroadcast(d.data_ptr(), d.data_ptr(), d.nbytes(), ncclChar, root, comm_, be_->stream()),
               "ncclBroadcast");
    finish("broadcast", d.nbytes());
    if (!d.same_storage(t)) t.copy_from(d);
  }

  void broadcast(std::string& s, int root) override {
    std::vector<int64_t> n = {static_cast<int64_t>(s.size())};
    Tensor len = Tensor::from_ints(n, {1}, DType::i64);
    broadcast(len, root);
    const int64_t size = len.to_ints()[0];
    std::vector<int64_t> bytes(s.begin(), s.end());
    bytes.resize(static_cast<size_t>(size));
    Tensor t = Tensor::from_ints(bytes, {size}, DType::i32);
    if (size > 0) broadcast(t, root);
    const std::vector<int64_t> got = t.to_ints();
    s.assign(got.begin(), got.end());
  }

  void all_gather_segments(Tensor& flat, std::span<const int64_t> offsets) override {
    SPT_CHECK(flat.defined() && flat.is_contiguous() && flat.dtype() == DType::f32 && flat.ndim() == 1,
              "[comm] all_gather_segments needs a contiguous 1-D f32 tensor, got ", flat.str());
    SPT_CHECK(offsets.size() == static_cast<size_t>(size()) + 1 && offsets.back() <= flat.numel(),
              "[comm] all_gather_segments: ", offsets.size(), " offsets for ", size(), " ranks");
    Tensor d = on_device(flat);
    const cuda::DeviceGuard guard(device_);
    // Segments differ in length: one broadcast per rank, in one NCCL group.
    check_nccl(ncclGroupStart(), "ncclGroupStart");
    for (int r = 0; r < size(); ++r) {
      float* p = d.data<float>() + offsets[static_cast<size_t>(r)];
      const size_t n = static_cast<size_t>(offsets[static_cast<size_t>(r) + 1] - offsets[static_cast<size_t>(r)]);
      check_nccl(ncclBroadcast(p, p, n, ncclFloat32, r, comm_, be_->stream()), "ncclBroadcast");
    }
    check_nccl(ncclGroupEnd(), "ncclGroupEnd");
    finish("all_gather", d.nbytes());
    if (!d.same_storage(flat)) flat.copy_from(d);
  }

  std::vector<double> all_gather(std::span<const double> mine) override {
    // Lengths first, then every rank's values padded to the longest.
    std::vector<int64_t> lens(static_cast<size_t>(size()), 0);
    lens[static_cast<size_t>(rank())] = static_cast<int64_t>(mine.size());
    all_reduce(std::span<int64_t>(lens), ReduceOp::sum);
    int64_t longest = 0;
    for (int64_t n : lens) longest = std::max(longest, n);
    std::vector<double> all(static_cast<size_t>(longest * size()), 0.0);
    std::copy(mine.begin(), mine.end(), all.begin() + rank() * longest);
    if (longest > 0) all_reduce(std::span<double>(all), ReduceOp::sum);  // other ranks' slots are 0
    std::vector<double> out;
    for (int r = 0; r < size(); ++r)
      out.insert(out.end(), all.begin() + r * longest, all.begin() + r * longest + lens[static_cast<size_t>(r)]);
    return out;
  }

  void barrier() override {
    std::vector<int64_t> one = {1};
    all_reduce(std::span<int64_t>(one), ReduceOp::sum);
  }

 private:
  // `t` itself when it is on this rank's GPU, else a device copy.
  Tensor on_device(const Tensor& t) const {
    if (t.device() == Device::cuda(device_)) return t;
    return t.to(Device::cuda(device_));
  }
  // Waits for the collective under the watchdog.
  void finish(const char* what, size_t bytes) {
    Watched wd(*watchdog_, what, bytes, timeout_s_);
    SPT_CUDA_CHECK(cudaStreamSynchronize(be_->stream()));
  }

  int device_;
  cuda::CudaBackend* be_ = nullptr;
  ncclComm_t comm_ = nullptr;
  cudaStream_t comm_stream_ = nullptr;
  cudaEvent_t ready_ = nullptr, done_ = nullptr;
  size_t pending_bytes_ = 0;  // started by all_reduce_start, not yet waited for
  std::unique_ptr<Watchdog> watchdog_;
};

}  // namespace

std::unique_ptr<Communicator> make_nccl_comm(const World& w, int device, Communicator* bootstrap,
                                             const std::string& rendezvous_dir, double timeout_s) {
  return std::make_unique<NcclComm>(w, device, bootstrap, rendezvous_dir, timeout_s);
}

}  // namespace spt::comm
