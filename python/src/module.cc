// _rembert: the native half of the Python package `rembert` (python/rembert wraps it in transformers' names).
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "bindings.h"
#include "errors.h"
#include "rembert/error.h"
#include "rembert/hub.h"
#include "rembert/model.h"

namespace py = pybind11;

namespace rembert::python {

std::string resolve_model(const std::string& name_or_path, const py::dict& hub, bool weights) {
  if (path_exists(name_or_path)) return resolve_model_for_task(name_or_path, HubOptions{});
  HubOptions options;
  if (hub.contains("revision") && !hub["revision"].is_none()) options.revision = hub["revision"].cast<std::string>();
  if (hub.contains("cache_dir") && !hub["cache_dir"].is_none()) options.cache_dir = hub["cache_dir"].cast<std::string>();
  if (hub.contains("local_files_only") && hub["local_files_only"].cast<bool>()) options.offline = true;
  if (hub.contains("token") && !hub["token"].is_none()) options.token = hub["token"].cast<std::string>();
  options.progress = HubProgress::Lines;
  ModelParts parts;
  parts.weights = weights;
  // Neither a folder nor a hub id (an absolute or relative path that does not exist): FileNotFoundError.
  if (!is_hub_repo_id(name_or_path)) {
    try {
      return resolve_model_for_task(name_or_path, options, parts);
    } catch (const Error& e) {
      throw FileNotFound(e.what());
    }
  }
  py::gil_scoped_release unlocked;  // downloads take a while
  try {
    return resolve_model_for_task(name_or_path, options, parts);
  } catch (const Error& e) {
    throw HubFailure(e.what());
  }
}

}  // namespace rembert::python

PYBIND11_MODULE(_rembert, m) {
  using namespace rembert::python;
  m.doc() = "Native core of the rembert package (rembert.cpp); use the `rembert` package instead.";
  register_errors();
  m.def("resolve_model", &resolve_model, py::arg("name_or_path"), py::arg("hub") = py::dict(),
        py::arg("weights") = true);
  m.def("set_num_threads", &rembert::set_num_threads, py::arg("threads"));
  m.def("get_num_threads", &rembert::num_threads);
  m.def("cpu_flags", &rembert::cpu_flags);
  m.def("onednn_version", &rembert::onednn_version);
  bind_tokenizer(m);
  bind_model(m);
  bind_pipelines(m);
  bind_train(m);
}
