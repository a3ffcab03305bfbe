// SHA-256 (FIPS 180-4), streaming: the hub names LFS blobs by the sha256 of their content, and downloads are checked
// against it as the bytes arrive.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

namespace rembert::hub {

class Sha256 {
 public:
  Sha256() { reset(); }
  void reset();
  void update(const void* data, size_t size);
  // The digest as 64 lowercase hex digits. Finishes the hash: call reset() before reusing the object.
  std::string hex_digest();

 private:
  void compress(const uint8_t* block);
  std::array<uint32_t, 8> state_{};
  std::array<uint8_t, 64> buffer_{};
  size_t buffered_ = 0;
  uint64_t total_bytes_ = 0;
};

// The sha256 of `data` as 64 lowercase hex digits.
std::string sha256_hex(const std::string& data);

// The sha256 of a file's content; throws rembert::Error naming the file when it cannot be read.
std::string sha256_file_hex(const std::string& path);

}  // namespace rembert::hub
