// numpy arrays <-> rembert::Tensor without copies: inputs become Tensor views over the array's buffer (copied only
// when not C-contiguous, not native-endian or of a dtype the library lacks), outputs become arrays over the
// Tensor's buffer, kept alive by a capsule that holds the Tensor.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "rembert/tensor.h"

namespace rembert::python {

// Call with the GIL held. The view keeps `array` alive (released under the GIL when the Tensor goes).
Tensor tensor_from_array(pybind11::handle array, const char* name);
pybind11::array array_from_tensor(const Tensor& tensor);

}  // namespace rembert::python
