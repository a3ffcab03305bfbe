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
// pages back, so the process does not hold the file and its packed copy at once. Does nothing for writable tensors;
// never changes the contents.
void release_resident_pages(const Tensor& t);

// The read-only private file mappings alive now (the safetensors reader registers its own): within them
// release_resident_pages only unmaps the pages (they stay in the page cache, so the next load finds them there);
// elsewhere it can only ask the kernel to page them out.
void register_file_mapping(const void* begin, size_t bytes);
void unregister_file_mapping(const void* begin);

// A tensor of a memory-mapped checkpoint that is read a few scattered rows at a time (an embedding table): no
// readahead, and no 2 MiB mappings of the page cache's large folios, so each row looked up costs a page or a few of
// resident memory instead of 2 MiB. Does nothing for writable tensors.
void advise_random_access(const Tensor& t);

}  // namespace rembert
