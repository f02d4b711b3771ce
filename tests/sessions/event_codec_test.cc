#include "service/sessions/event_codec.h"

#include <random>
#include <string>
#include <variant>

#include "absl/status/status.h"
#include "docshare/internal/session_event.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace docshare {
namespace {

using ::testing::HasSubstr;

SessionEvent SharedEvent() {
  auto doc = std::make_shared<Document>();
  doc->document_id = "d-1";
  doc->session_id = "s1";
  doc->filename = "photo.jpg";
  doc->source_type = FileType::kGif;
  doc->source_mime_type = "image/gif";
  doc->source_width = 640;
  doc->source_height = 480;
  doc->frame_count = 12;
  doc->source_bytes = 123456789012ull;
  doc->shared_by = Role::kConsumer;
  doc->declared_type_mismatch = true;
  doc->shared_at = absl::FromUnixMicros(1'800'000'000'123'456);
  for (Rendition r : {Rendition::kThumbnail, Rendition::kDisplay}) {
    Preview p;
    p.rendition = r;
    p.mime_type = "image/webp";
    p.width = r == Rendition::kDisplay ? 640 : 256;
    p.height = r == Rendition::kDisplay ? 480 : 192;
    p.data = std::make_shared<const std::string>(std::string("\0\x01\xff binary", 10));
    p.sha256 = std::string(64, r == Rendition::kDisplay ? 'd' : 't');
    doc->previews.push_back(std::move(p));
  }
  SessionEvent event;
  event.sequence = 300;
  event.time = absl::FromUnixMicros(1'800'000'001'000'000);
  event.event = DocumentShared{std::move(doc)};
  return event;
}

TEST(EventCodecTest, DocumentSharedRoundTrips) {
  const SessionEvent in = SharedEvent();
  absl::StatusOr<SessionEvent> out = DecodeEvent(EncodeEvent(in));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->sequence, 300u);
  EXPECT_EQ(out->time, in.time);
  const auto& a = *std::get<DocumentShared>(in.event).document;
  const auto* shared = std::get_if<DocumentShared>(&out->event);
  ASSERT_NE(shared, nullptr);
  const Document& b = *shared->document;
  EXPECT_EQ(b.document_id, a.document_id);
  EXPECT_EQ(b.session_id, a.session_id);
  EXPECT_EQ(b.filename, a.filename);
  EXPECT_EQ(b.source_type, a.source_type);
  EXPECT_EQ(b.source_mime_type, a.source_mime_type);
  EXPECT_EQ(b.source_width, a.source_width);
  EXPECT_EQ(b.source_height, a.source_height);
  EXPECT_EQ(b.frame_count, a.frame_count);
  EXPECT_EQ(b.source_bytes, a.source_bytes);
  EXPECT_EQ(b.shared_by, a.shared_by);
  EXPECT_EQ(b.declared_type_mismatch, a.declared_type_mismatch);
  EXPECT_EQ(b.shared_at, a.shared_at);
  ASSERT_EQ(b.previews.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(b.previews[i].rendition, a.previews[i].rendition);
    EXPECT_EQ(b.previews[i].mime_type, a.previews[i].mime_type);
    EXPECT_EQ(b.previews[i].width, a.previews[i].width);
    EXPECT_EQ(b.previews[i].height, a.previews[i].height);
    EXPECT_EQ(*b.previews[i].data, *a.previews[i].data);
    EXPECT_EQ(b.previews[i].sha256, a.previews[i].sha256);
  }
}

TEST(EventCodecTest, SessionEndedRoundTrips) {
  SessionEvent in;
  in.sequence = 7;
  in.time = absl::FromUnixSeconds(-5);  // signed times survive
  in.event = SessionEnded{"expired"};
  absl::StatusOr<SessionEvent> out = DecodeEvent(EncodeEvent(in));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->sequence, 7u);
  EXPECT_EQ(out->time, in.time);
  ASSERT_TRUE(std::holds_alternative<SessionEnded>(out->event));
  EXPECT_EQ(std::get<SessionEnded>(out->event).reason, "expired");
}

TEST(EventCodecTest, WithdrawnAndAcknowledgedRoundTrip) {
  SessionEvent in;
  in.sequence = 3;
  in.event = DocumentWithdrawn{"doc_1", Role::kAdmin};
  absl::StatusOr<SessionEvent> out = DecodeEvent(EncodeEvent(in));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(std::get<DocumentWithdrawn>(out->event).document_id, "doc_1");
  EXPECT_EQ(std::get<DocumentWithdrawn>(out->event).withdrawn_by, Role::kAdmin);
  in.event = DocumentAcknowledged{"doc_2", Role::kConsumer, Acknowledgement::kClosed};
  out = DecodeEvent(EncodeEvent(in));
  ASSERT_TRUE(out.ok()) << out.status();
  const auto& ack = std::get<DocumentAcknowledged>(out->event);
  EXPECT_EQ(ack.document_id, "doc_2");
  EXPECT_EQ(ack.acknowledged_by, Role::kConsumer);
  EXPECT_EQ(ack.acknowledgement, Acknowledgement::kClosed);
}

TEST(EventCodecTest, AcknowledgementOutOfRangeIsMalformed) {
  docshare::internal::StoredEvent stored;
  stored.mutable_document_acknowledged()->set_acknowledgement(3);
  EXPECT_EQ(DecodeEvent(stored.SerializeAsString()).status().code(),
            absl::StatusCode::kInvalidArgument);
  stored.mutable_document_withdrawn()->set_withdrawn_by(4);
  EXPECT_EQ(DecodeEvent(stored.SerializeAsString()).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(EventCodecTest, EveryTruncationIsAnError) {
  const std::string bytes = EncodeEvent(SharedEvent());
  for (size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_EQ(DecodeEvent(std::string_view(bytes).substr(0, n)).status().code(),
              absl::StatusCode::kInvalidArgument)
        << "prefix of " << n << " bytes";
  }
}

// What no replica writes: each is refused, by name.
TEST(EventCodecTest, EventsNoReplicaWritesAreErrors) {
  auto refused = [](const internal::StoredEvent& stored, std::string_view why) {
    absl::StatusOr<SessionEvent> e = DecodeEvent(stored.SerializeAsString());
    EXPECT_EQ(e.status().code(), absl::StatusCode::kInvalidArgument) << why;
    EXPECT_THAT(e.status().message(), HasSubstr(why));
  };
  internal::StoredEvent stored;
  ASSERT_TRUE(stored.ParseFromString(EncodeEvent(SharedEvent())));
  internal::StoredEvent no_kind = stored;
  no_kind.clear_event();
  refused(no_kind, "no kind");
  internal::StoredEvent bad_type = stored;
  bad_type.mutable_document_shared()->set_source_type(4);
  refused(bad_type, "source_type 4 out of range");
  internal::StoredEvent bad_role = stored;
  bad_role.mutable_document_shared()->set_shared_by(-1);
  refused(bad_role, "shared_by -1 out of range");
  internal::StoredEvent bad_rendition = stored;
  bad_rendition.mutable_document_shared()->mutable_previews(1)->set_rendition(2);
  refused(bad_rendition, "rendition 2 out of range");
  internal::StoredEvent negative = stored;
  negative.mutable_document_shared()->mutable_previews(0)->set_width(-3);
  refused(negative, "negative preview width");
  EXPECT_EQ(DecodeEvent("\xff\xff\xff").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(EventCodecTest, HugeLengthsAreRejectedWithoutAllocating) {
  // Field 3 (the document), length-delimited, claiming 2^62 bytes.
  std::string huge("\x1a", 1);
  huge += std::string(8, '\xff') + "\x3f";
  EXPECT_EQ(DecodeEvent(huge).status().code(), absl::StatusCode::kInvalidArgument);
  // An 11-byte varint.
  std::string long_varint("\x08", 1);
  long_varint += std::string(11, '\x80');
  EXPECT_FALSE(DecodeEvent(long_varint).ok());
}

TEST(EventCodecTest, RandomMutationsNeverCrash) {
  const std::string bytes = EncodeEvent(SharedEvent());
  std::mt19937 rng(42);
  int decoded = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string m = bytes;
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < edits; ++k) m[rng() % m.size()] = static_cast<char>(rng());
    if (rng() % 4 == 0) m.resize(rng() % m.size());
    if (DecodeEvent(m).ok()) ++decoded;
  }
  // Some mutations hit string contents and still decode; none may crash.
  EXPECT_GT(decoded, 0);
  for (int i = 0; i < 5000; ++i) {
    std::string noise(rng() % 64, '\0');
    for (char& c : noise) c = static_cast<char>(rng());
    (void)DecodeEvent(noise);
  }
}

}  // namespace
}  // namespace docshare
