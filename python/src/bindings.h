// The parts of the native module _rembert, each registered by its own file.
#pragma once

#include <pybind11/pybind11.h>

#include <string>

namespace rembert::python {

void bind_tokenizer(pybind11::module_& m);
void bind_model(pybind11::module_& m);
void bind_pipelines(pybind11::module_& m);
void bind_train(pybind11::module_& m);

// A model folder or hub id to a local folder, as the CLI's --model does (the HF cache; OSError when that fails).
std::string resolve_model(const std::string& name_or_path, const pybind11::dict& hub, bool weights);

}  // namespace rembert::python
