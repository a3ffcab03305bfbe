#include "core/files.h"

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>

#include <sys/mman.h>
#include <unistd.h>

#include "rembert/error.h"

namespace rembert {

std::string read_file(const std::string& path, const char* what) {
  // One fread of the known size: an ifstream through a stringstream copied a 10 MB tokenizer.json three times.
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) throw Error(std::string("cannot open ") + what + " '" + path + "': " + std::strerror(errno));
  std::string bytes;
  if (std::fseek(f.get(), 0, SEEK_END) == 0) {
    const long size = std::ftell(f.get());
    if (size > 0) bytes.resize(static_cast<size_t>(size));
    std::rewind(f.get());
  }
  const size_t got = std::fread(bytes.data(), 1, bytes.size(), f.get());
  bytes.resize(got);
  // Files whose size is not known up front (pipes, /proc): read the rest in chunks.
  char chunk[65536];
  size_t n;
  while ((n = std::fread(chunk, 1, sizeof chunk, f.get())) > 0) bytes.append(chunk, n);
  if (std::ferror(f.get())) throw Error(std::string("cannot read ") + what + " '" + path + "'");
  return bytes;
}

// MADV_PAGEOUT never changes the contents (unlike MADV_DONTNEED on anonymous memory), so it is harmless on any
// read-only buffer; errors (old kernels) are ignored.
void release_resident_pages(const Tensor& t) {
  if (!t.defined() || t.writable()) return;
  const auto page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  const auto begin = reinterpret_cast<uintptr_t>(t.raw_data());
  const uintptr_t first = (begin + page - 1) / page * page, last = (begin + t.nbytes()) / page * page;
  if (last > first) madvise(reinterpret_cast<void*>(first), last - first, MADV_PAGEOUT);
}

}  // namespace rembert
