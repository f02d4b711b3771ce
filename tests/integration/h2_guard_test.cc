// The HTTP/2 frame guard on its own (issue 12, attack 1): frames fed in any
// pieces, what passes and what closes a connection.
#include "service/transport/h2_guard.h"

#include <string>

#include "gtest/gtest.h"
#include "tests/support/h2_flood.h"

namespace docshare {
namespace {

using testing::kH2Continuation;
using testing::kH2Data;
using testing::kH2EndHeaders;
using testing::kH2Headers;
using testing::kH2Preface;
using testing::kH2RstStream;

// A frame of `length` payload bytes.
std::string Frame(uint8_t type, uint8_t flags, uint32_t stream, size_t length) {
  return testing::H2Frame(type, flags, stream, std::string(length, 'h'));
}

const absl::Time kT0 = absl::FromUnixSeconds(1'800'000'000);

// Fed a byte at a time: frame boundaries never line up with reads.
absl::Status FeedBytewise(H2FrameGuard& guard, const std::string& bytes, absl::Time now) {
  for (char c : bytes) {
    if (absl::Status s = guard.Feed(std::string_view(&c, 1), now); !s.ok()) return s;
  }
  return absl::OkStatus();
}

TEST(H2FrameGuardTest, AHeaderBlockUnderTheLimitPassesInAnyPieces) {
  H2FrameGuard guard(H2Limits{.max_header_block_bytes = 1000});
  std::string bytes(kH2Preface);
  bytes += Frame(kH2Headers, 0, 1, 400);
  bytes += Frame(kH2Continuation, 0, 1, 300);
  bytes += Frame(kH2Continuation, kH2EndHeaders, 1, 300);  // 1000 in all: at the limit
  bytes += Frame(kH2Headers, kH2EndHeaders, 3, 900);       // a new block starts at 0
  EXPECT_TRUE(FeedBytewise(guard, bytes, kT0).ok());
  EXPECT_TRUE(guard.refused().empty());
}

TEST(H2FrameGuardTest, AContinuationFloodClosesTheConnection) {
  H2FrameGuard guard(H2Limits{.max_header_block_bytes = 1000});
  std::string bytes(kH2Preface);
  bytes += Frame(kH2Headers, 0, 1, 600);
  ASSERT_TRUE(guard.Feed(bytes, kT0).ok());
  const absl::Status s = guard.Feed(Frame(kH2Continuation, 0, 1, 401), kT0);
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
  EXPECT_NE(s.message().find("CONTINUATION flood"), std::string::npos) << s;
  EXPECT_EQ(guard.refused(), "header_block");
  // Closed for good: nothing more passes.
  EXPECT_FALSE(guard.Feed(Frame(kH2Data, 0, 1, 1), kT0).ok());
}

TEST(H2FrameGuardTest, PayloadBytesAreNeverReadAsFrames) {
  // A DATA frame whose payload is full of what would be HEADERS headers.
  H2FrameGuard guard(H2Limits{.max_header_block_bytes = 100});
  std::string payload;
  for (int i = 0; i < 50; ++i) payload += Frame(kH2Headers, 0, 1, 0);
  std::string bytes(kH2Preface);
  bytes += Frame(kH2Data, 0, 1, 0).substr(0, 9);
  bytes[24] = static_cast<char>((payload.size() >> 16) & 0xff);
  bytes[25] = static_cast<char>((payload.size() >> 8) & 0xff);
  bytes[26] = static_cast<char>(payload.size() & 0xff);
  bytes += payload;
  bytes += Frame(kH2RstStream, 0, 1, 4);
  EXPECT_TRUE(FeedBytewise(guard, bytes, kT0).ok());
}

TEST(H2FrameGuardTest, RapidResetClosesTheConnectionWithinASecond) {
  H2FrameGuard guard(H2Limits{.max_resets_per_second = 10});
  ASSERT_TRUE(guard.Feed(kH2Preface, kT0).ok());
  for (uint32_t i = 0; i < 10; ++i) {
    ASSERT_TRUE(guard
                    .Feed(Frame(kH2Headers, kH2EndHeaders, 2 * i + 1, 20) +
                              Frame(kH2RstStream, 0, 2 * i + 1, 4),
                          kT0 + absl::Milliseconds(50 * i))
                    .ok())
        << i;
  }
  const absl::Status s =
      guard.Feed(Frame(kH2RstStream, 0, 21, 4), kT0 + absl::Milliseconds(900));
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
  EXPECT_EQ(guard.refused(), "resets");
}

TEST(H2FrameGuardTest, ResetsSpreadOverSecondsPass) {
  H2FrameGuard guard(H2Limits{.max_resets_per_second = 10});
  ASSERT_TRUE(guard.Feed(kH2Preface, kT0).ok());
  for (int i = 0; i < 100; ++i) {  // 5 a second for 20 s
    ASSERT_TRUE(
        guard.Feed(Frame(kH2RstStream, 0, 1, 4), kT0 + absl::Milliseconds(200 * i)).ok())
        << i;
  }
}

TEST(H2FrameGuardTest, ZeroTurnsALimitOff) {
  H2FrameGuard guard(H2Limits{.max_header_block_bytes = 0, .max_resets_per_second = 0});
  std::string bytes(kH2Preface);
  bytes += Frame(kH2Headers, 0, 1, 16000);
  for (int i = 0; i < 20; ++i) bytes += Frame(kH2Continuation, 0, 1, 16000);
  for (int i = 0; i < 1000; ++i) bytes += Frame(kH2RstStream, 0, 1, 4);
  EXPECT_TRUE(guard.Feed(bytes, kT0).ok());
}

}  // namespace
}  // namespace docshare
