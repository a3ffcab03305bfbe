// Downloading one blob into the cache: to blobs/{etag}.incomplete, resumed with a Range request when a previous
// attempt left part of it, checked (size, and sha256 when the ETag is one), then renamed to blobs/{etag}.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "hub/http.h"
#include "rembert/hub.h"

namespace rembert::hub {

struct BlobRequest {
  std::string url;                       // where the bytes are (the CDN location for LFS files)
  std::vector<std::string> headers;      // Authorization, when the URL is on the endpoint's host
  std::string blob_path;                 // {cache}/models--org--name/blobs/{etag}
  std::optional<uint64_t> expected_size; // X-Linked-Size / Content-Length of the metadata request
  std::string expected_sha256;           // the ETag when it is a sha256 (LFS files), else ""
  std::string display_name;              // "org/name/model.safetensors", for messages
  HubProgress progress = HubProgress::None;  // Auto already resolved
  int max_retries = 0;
  double retry_delay_seconds = 0.0;
};

// Downloads `request.url` to `request.blob_path`. The caller holds the blob's lock. On success the blob exists,
// complete and verified; on failure it does not (a partial `.incomplete` file may remain for a later resume, unless
// its content was found wrong). Throws rembert::Error (hub::NetworkError for transport failures).
void download_blob(HttpClient& http, const BlobRequest& request);

// "1.5 MB" etc.
std::string human_size(uint64_t bytes);

}  // namespace rembert::hub
