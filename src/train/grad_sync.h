// The gradient all-reduce of data parallelism, in buckets that start as soon as
// backward has completed their gradients.
//
// The flat gradient buffer is cut into buckets of at most `bucket` elements.
// A bucket is complete once every Transformer block whose parameters it holds
// has run backward (blocks finish from the last to the first; parameters
// outside blocks — embeddings, heads, final norms — at the end). The buckets
// are started in one fixed order computed from the parameter layout alone, the
// same on every rank (collectives must match), each as soon as it and all
// before it in that order are complete; with NCCL they run on a communication
// stream while the earlier blocks' backward goes on (llm.c and DDP do the same).
// Only the step's last micro-batch starts buckets early; with accumulation the
// earlier ones only add into the buffer.
#pragma once

#include <cstdint>
#include <vector>

#include "spt/comm/comm.h"
#include "spt/model/layers.h"
#include "spt/model/parameters.h"

namespace spt::train {

class GradSync final : public model::GradsReady {
 public:
  GradSync(ParameterStore& ps, comm::Communicator& c, int64_t bucket = int64_t{1} << 22);
  // The next backward is the step's last micro-batch: start buckets as blocks finish.
  void arm();
  void block_done(int64_t block) override;
  // Starts the buckets not started yet (all of them when not armed), in the
  // fixed order, and waits for every one. Then every rank holds the sums.
  void finish();
  size_t buckets() const { return order_.size(); }
  // Buckets started by block_done() (not by finish()) since the last arm().
  size_t started_early() const { return early_; }

 private:
  struct Bucket {
    int64_t begin, end;
    int64_t ready_after;  // complete once block `ready_after` ran backward; -1: at the end
  };
  void start_through(int64_t done_block);  // starts the next buckets complete by then

  ParameterStore& ps_;
  comm::Communicator& comm_;
  std::vector<Bucket> order_;  // the fixed start order
  size_t next_ = 0, early_ = 0;
  bool armed_ = false;
};

}  // namespace spt::train
