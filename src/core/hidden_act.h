// config.json's hidden_act names (transformers' ACT2FN keys, SPEC §2.5) -> the kernels' activation functions.
#pragma once

#include <string>

#include "kernels/activation.h"

namespace rembert {

// Throws Error naming hidden_act and the name when it is not an ACT2FN name.
kernels::Activation activation_from_hidden_act(const std::string& name);

}  // namespace rembert
