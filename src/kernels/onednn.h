// What the oneDNN-based kernels share: the CPU engine, and how to tell oneDNN's slow reference implementations.
#pragma once

#include <string>

#include <oneapi/dnnl/dnnl.hpp>

namespace rembert::kernels {

dnnl::engine& cpu_engine();
// oneDNN's reference implementations ("ref:any", ...) are plain loops: a path that has only those is not one
// the CPU has.
bool is_reference_implementation(const std::string& impl);

}  // namespace rembert::kernels
