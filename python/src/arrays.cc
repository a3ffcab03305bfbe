#include "arrays.h"

#include <memory>
#include <string>
#include <vector>

#include "rembert/error.h"

namespace py = pybind11;

namespace rembert::python {

namespace {

// numpy's dtype (kind + itemsize) to the library's; false when the library has none.
bool dtype_of(const py::dtype& dt, DType* out) {
  const char kind = dt.kind();
  const auto size = dt.itemsize();
  if (kind == 'f') {
    if (size == 4) *out = DType::F32;
    else if (size == 2) *out = DType::F16;
    else if (size == 8) *out = DType::F64;
    else return false;
  } else if (kind == 'i') {
    if (size == 8) *out = DType::I64;
    else if (size == 4) *out = DType::I32;
    else if (size == 2) *out = DType::I16;
    else if (size == 1) *out = DType::I8;
    else return false;
  } else if (kind == 'u' && size == 1) {
    *out = DType::U8;
  } else if (kind == 'b') {
    *out = DType::Bool;
  } else {
    return false;
  }
  return true;
}

py::dtype numpy_dtype(DType dtype) {
  switch (dtype) {
    case DType::F32: return py::dtype::of<float>();
    case DType::F64: return py::dtype::of<double>();
    case DType::F16: return py::dtype("float16");
    case DType::I64: return py::dtype::of<int64_t>();
    case DType::I32: return py::dtype::of<int32_t>();
    case DType::I16: return py::dtype::of<int16_t>();
    case DType::I8: return py::dtype::of<int8_t>();
    case DType::U8: return py::dtype::of<uint8_t>();
    case DType::Bool: return py::dtype::of<bool>();
    case DType::BF16: break;
  }
  throw Error(std::string("no numpy dtype for ") + dtype_name(dtype));
}

// Native byte order: '=' native, '|' not applicable, or the explicit mark of this machine, little-endian as the
// library's tensors are.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "rembert tensors are little-endian");
bool native_order(const py::dtype& dt) {
  const char order = py::detail::array_descriptor_proxy(dt.ptr())->byteorder;
  return order == '=' || order == '|' || order == '<';
}

}  // namespace

Tensor tensor_from_array(py::handle obj, const char* name) {
  // The common case, an ndarray, is taken as it is: a forward's fixed cost is a few of these calls.
  py::array array = py::isinstance<py::array>(obj) ? py::reinterpret_borrow<py::array>(obj)
                                                   : py::array(py::module_::import("numpy").attr("asarray")(obj));
  DType dtype{};
  if (!dtype_of(array.dtype(), &dtype)) {
    const char kind = array.dtype().kind();
    if (kind != 'i' && kind != 'u') {
      throw Error(std::string(name) + ": unsupported dtype " + py::str(array.dtype()).cast<std::string>());
    }
    array = py::array(array.attr("astype")("int64"));  // uint16/32/64: as the library's ids
    dtype = DType::I64;
  }
  if (!(array.flags() & py::array::c_style) || !native_order(array.dtype())) {
    py::module_ np = py::module_::import("numpy");
    array = py::array(np.attr("ascontiguousarray")(array, array.dtype().attr("newbyteorder")("=")));
  }
  Shape shape(array.shape(), array.shape() + array.ndim());
  if (array.size() == 0) return Tensor(dtype, shape);  // an empty buffer may have no address
  // The owner reference is dropped under the GIL, whichever thread frees the last Tensor copy.
  auto* ref = new py::object(array);
  std::shared_ptr<const void> owner(ref, [](const void* p) {
    py::gil_scoped_acquire gil;
    delete static_cast<const py::object*>(p);
  });
  return Tensor::view(dtype, std::move(shape), array.data(), std::move(owner), false);
}

py::array array_from_tensor(const Tensor& tensor) {
  const py::dtype dt = numpy_dtype(tensor.dtype());
  std::vector<py::ssize_t> shape(tensor.shape().begin(), tensor.shape().end());
  if (!tensor.defined() || tensor.numel() == 0) return py::array(dt, shape);
  std::vector<py::ssize_t> strides(shape.size());
  py::ssize_t step = static_cast<py::ssize_t>(dtype_size(tensor.dtype()));
  for (size_t i = shape.size(); i-- > 0;) {
    strides[i] = step;
    step *= shape[i];
  }
  auto* keep = new Tensor(tensor);
  py::capsule base(keep, [](void* p) { delete static_cast<Tensor*>(p); });
  py::array out(dt, shape, strides, tensor.raw_data(), base);
  if (!tensor.writable()) out.attr("setflags")(py::arg("write") = false);
  return out;
}

}  // namespace rembert::python
