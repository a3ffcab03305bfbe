// The element-wise activation functions the kernels apply. Which config names stand for which function is the
// config's business (core/hidden_act.h); the kernels see only this enum.
#pragma once

namespace rembert::kernels {

// The functions behind transformers' ACT2FN (SPEC §2.5).
enum class Activation {
  Gelu, GeluTanh, QuickGelu, Gelu10, Relu, Relu6, Silu, Tanh, Sigmoid, Mish, LeakyRelu, Linear, Laplace, Relu2
};

}  // namespace rembert::kernels
