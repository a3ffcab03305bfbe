// How library failures reach Python: rembert::Error as ValueError, a missing file or folder as FileNotFoundError,
// a hub model that cannot be fetched as OSError (transformers raises OSError there), each with the library's message.
#pragma once

#include <stdexcept>
#include <string>

namespace rembert::python {

struct FileNotFound : std::runtime_error {
  using std::runtime_error::runtime_error;
};
struct HubFailure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Registers the translators above (and rembert::Error -> ValueError) with pybind11.
void register_errors();

bool path_exists(const std::string& path);

}  // namespace rembert::python
