#include "kernels/onednn.h"

namespace rembert::kernels {

dnnl::engine& cpu_engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

bool is_reference_implementation(const std::string& impl) { return impl.rfind("ref", 0) == 0; }

}  // namespace rembert::kernels
