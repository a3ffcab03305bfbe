// Errors: every failure the library reports is a rembert::Error whose message names the file, tensor or field at
// fault. Nothing in the library aborts on user input.
#pragma once

#include <stdexcept>
#include <string>

namespace rembert {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

}  // namespace rembert
