#ifndef DOCSHARE_TRANSPORT_CHECK_FILE_H_
#define DOCSHARE_TRANSPORT_CHECK_FILE_H_

#include <string_view>

#include "docshare/v1/docshare.pb.h"

namespace docshare {

// The verdict of CheckFile (gRPC) and POST /v1/check (HTTP): libmagic on at
// most the first 4096 bytes of `head`. The type only; limits are the share's
// business. Protobuf, no gRPC, so both listeners link it.
v1::CheckFileResponse CheckHead(std::string_view head);

}  // namespace docshare

#endif  // DOCSHARE_TRANSPORT_CHECK_FILE_H_
