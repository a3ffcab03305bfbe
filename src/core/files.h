// Reading a whole file into memory, for the JSON and tokenizer files a model folder holds.
#pragma once

#include <string>

namespace rembert {

// The bytes of `path`. Throws rembert::Error naming the file (and `what` it is, e.g. "config file") when it cannot
// be opened or read.
std::string read_file(const std::string& path, const char* what = "file");

}  // namespace rembert
