// All ops of the library (umbrella header).
#pragma once

#include "spt/ops/activation.h"
#include "spt/ops/attention.h"
#include "spt/ops/dropout.h"
#include "spt/ops/embedding.h"
#include "spt/ops/layernorm.h"
#include "spt/ops/rmsnorm.h"
#include "spt/ops/rope.h"
#include "spt/ops/linear.h"
#include "spt/ops/lora.h"
#include "spt/ops/loss.h"
#include "spt/ops/optim.h"
#include "spt/ops/pooling.h"
#include "spt/ops/residual.h"
#include "spt/ops/softmax.h"
#include "spt/ops/routed_ffn.h"
#include "spt/ops/sparse_attention.h"
