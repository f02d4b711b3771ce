#include "service/sessions/event_codec.h"

#include <random>
#include <string>
#include <variant>

#include "absl/status/status.h"
#include "gtest/gtest.h"

namespace docshare {
namespace {

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

TEST(EventCodecTest, EveryTruncationIsAnError) {
  const std::string bytes = EncodeEvent(SharedEvent());
  for (size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_EQ(DecodeEvent(std::string_view(bytes).substr(0, n)).status().code(),
              absl::StatusCode::kInvalidArgument)
        << "prefix of " << n << " bytes";
  }
}

TEST(EventCodecTest, TrailingBytesAndBadHeadersAreErrors) {
  const std::string bytes = EncodeEvent(SharedEvent());
  EXPECT_FALSE(DecodeEvent(bytes + "x").ok());
  std::string bad_magic = bytes;
  bad_magic[0] = 'X';
  EXPECT_FALSE(DecodeEvent(bad_magic).ok());
  std::string bad_version = bytes;
  bad_version[1] = 9;
  EXPECT_FALSE(DecodeEvent(bad_version).ok());
}

TEST(EventCodecTest, HugeLengthsAndCountsAreRejectedWithoutAllocating) {
  // magic, version, seq 1, time 0, shared, then a string length of 2^63.
  std::string huge("D\x01\x01\x00\x01", 5);
  huge += std::string(9, '\xff') + "\x7f";
  EXPECT_FALSE(DecodeEvent(huge).ok());
  // An 11-byte varint.
  std::string long_varint("D\x01", 2);
  long_varint += std::string(11, '\x80');
  EXPECT_FALSE(DecodeEvent(long_varint).ok());
  // Previews count far beyond the bytes left.
  SessionEvent e;
  auto doc = std::make_shared<Document>();
  e.event = DocumentShared{doc};
  std::string bytes = EncodeEvent(e);
  ASSERT_EQ(bytes.back(), '\0');  // previews count 0 is the last byte
  bytes.pop_back();
  bytes += std::string("\xff\xff\xff\xff\x0f", 5);
  EXPECT_FALSE(DecodeEvent(bytes).ok());
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
