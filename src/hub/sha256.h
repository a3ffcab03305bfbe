// SHA-256, streaming, by OpenSSL's libcrypto (EVP digests): the hub names LFS blobs by the sha256 of their content,
// and downloads are checked against it as the bytes arrive.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

struct evp_md_ctx_st;  // OpenSSL's EVP_MD_CTX

namespace rembert::hub {

class Sha256 {
 public:
  Sha256();
  void reset();
  void update(const void* data, size_t size);
  // The digest as 64 lowercase hex digits. Finishes the hash: call reset() before reusing the object.
  std::string hex_digest();

 private:
  struct FreeContext {
    void operator()(evp_md_ctx_st* ctx) const;
  };
  std::unique_ptr<evp_md_ctx_st, FreeContext> ctx_;
};

// The sha256 of `data` as 64 lowercase hex digits.
std::string sha256_hex(const std::string& data);

// The sha256 of a file's content; throws rembert::Error naming the file when it cannot be read.
std::string sha256_file_hex(const std::string& path);

}  // namespace rembert::hub
