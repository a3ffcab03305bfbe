// Reading a whole file into memory, for the JSON and tokenizer files a model folder holds; handing a mapped file's
// pages back.
#pragma once

#include <string>

#include "rembert/tensor.h"

namespace rembert {

// The bytes of `path`. Throws rembert::Error naming the file (and `what` it is, e.g. "config file") when it cannot
// be opened or read.
std::string read_file(const std::string& path, const char* what = "file");

// A tensor read from a memory-mapped checkpoint whose bytes are no longer needed (packed or written out): hands its
// pages back to the page cache, so the process does not hold the file and its converted copy at once. Does nothing
// for writable tensors; never changes the contents.
void release_resident_pages(const Tensor& t);

}  // namespace rembert
