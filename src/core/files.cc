#include "core/files.h"

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <utility>

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

namespace {

struct Mappings {
  std::mutex mu;
  std::map<uintptr_t, uintptr_t> ranges;  // begin -> end
};
// Never destroyed: mappings held by static objects are unregistered during exit, after this file's statics.
Mappings& mappings() {
  static Mappings* m = new Mappings;
  return *m;
}

bool inside_file_mapping(uintptr_t first, uintptr_t last) {
  Mappings& m = mappings();
  std::lock_guard<std::mutex> lock(m.mu);
  auto it = m.ranges.upper_bound(first);
  if (it == m.ranges.begin()) return false;
  --it;
  return first >= it->first && last <= it->second;
}

// The whole pages inside a read-only tensor's bytes, as [first, last); empty for writable or undefined tensors.
std::pair<uintptr_t, uintptr_t> inner_pages(const Tensor& t) {
  if (!t.defined() || t.writable()) return {0, 0};
  const auto page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  const auto begin = reinterpret_cast<uintptr_t>(t.raw_data());
  return {(begin + page - 1) / page * page, (begin + t.nbytes()) / page * page};
}

}  // namespace

void register_file_mapping(const void* begin, size_t bytes) {
  const auto b = reinterpret_cast<uintptr_t>(begin);
  Mappings& m = mappings();
  std::lock_guard<std::mutex> lock(m.mu);
  m.ranges[b] = b + bytes;
}

void unregister_file_mapping(const void* begin) {
  Mappings& m = mappings();
  std::lock_guard<std::mutex> lock(m.mu);
  m.ranges.erase(reinterpret_cast<uintptr_t>(begin));
}

// MADV_DONTNEED on a read-only private file mapping (never written, so never copied on write) drops the pages from
// the process and refills them from the file if touched again; on anonymous memory it would zero them, so any other
// read-only buffer gets MADV_PAGEOUT, which never changes the contents but also evicts the pages from the page cache.
// Errors (old kernels) are ignored.
void release_resident_pages(const Tensor& t) {
  const auto [first, last] = inner_pages(t);
  if (last <= first) return;
  madvise(reinterpret_cast<void*>(first), last - first,
          inside_file_mapping(first, last) ? MADV_DONTNEED : MADV_PAGEOUT);
}

// Without readahead a lookup reads single pages. Large folios already in the page cache are still mapped whole
// (Linux 6.18: 128 token lookups in the embeddings of a file just written made 156 MB resident, 2 MiB each).
void advise_random_access(const Tensor& t) {
  const auto [first, last] = inner_pages(t);
  if (last <= first) return;
  madvise(reinterpret_cast<void*>(first), last - first, MADV_RANDOM);
  madvise(reinterpret_cast<void*>(first), last - first, MADV_NOHUGEPAGE);
}

}  // namespace rembert
