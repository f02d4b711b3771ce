#ifndef DOCSHARE_TRANSPORT_CONVERT_H_
#define DOCSHARE_TRANSPORT_CONVERT_H_

#include "docshare/v1/docshare.pb.h"
#include "service/common/types.h"

namespace docshare {

enum class WithData { kNo, kYes };

void ToProto(const Document& doc, WithData with_data, v1::Document* out);
void ToProto(const SessionEvent& event, v1::SessionEvent* out);
void ToProto(absl::Time time, google::protobuf::Timestamp* out);
v1::FileType ToProto(FileType type);
v1::RejectReason ToProto(RejectReason reason);

}  // namespace docshare

#endif  // DOCSHARE_TRANSPORT_CONVERT_H_
