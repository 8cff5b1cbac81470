// Pointwise activations: gelu (erf), gelu_tanh, relu, silu, tanh. Any shape.
#pragma once

#include <string>

#include "spt/backend/backend.h"

namespace spt::ops {

// Maps Hugging Face `hidden_act` / `activation_function` names: "gelu" (erf),
// "gelu_new" / "gelu_pytorch_tanh" / "gelu_fast"-style tanh, "relu", "silu" / "swish".
Activation activation_from_name(const std::string& name);

void activation_forward(Activation act, Tensor& y, const Tensor& x);
// dx = dy * act'(x) (written)
void activation_backward(Activation act, Tensor& dx, const Tensor& dy, const Tensor& x);

// Gated activation (GLU; LLaMA's SwiGLU is act = silu): h = act(g) * u.
void glu_forward(Activation act, Tensor& h, const Tensor& g, const Tensor& u);
// dg = dh * u * act'(g), du = dh * act(g) (written).
void glu_backward(Activation act, Tensor& dg, Tensor& du, const Tensor& dh, const Tensor& g, const Tensor& u);

}  // namespace spt::ops
