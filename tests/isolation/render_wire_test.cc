#include "service/pipeline/render_wire.h"

#include <sys/socket.h>
#include <unistd.h>

#include <random>
#include <string>
#include <thread>

#include "gtest/gtest.h"
#include "service/common/reject.h"

namespace docshare {
namespace {

std::string_view Payload(const std::string& frame) {
  return std::string_view(frame).substr(kFrameLengthBytes);
}

Renditions SomeRenditions() {
  Renditions r;
  r.width = 4000;
  r.height = 3000;
  r.frame_count = 3;
  r.thumbnail = {Rendition::kThumbnail, "image/webp", 256, 192,
                 std::make_shared<const std::string>("thumb\0bytes", 11)};
  r.display = {Rendition::kDisplay, "image/webp", 1600, 1200,
               std::make_shared<const std::string>(std::string(100000, 'd'))};
  return r;
}

TEST(RenderWireTest, FramesAnnounceTheirPayloadLength) {
  const std::string frame = EncodeReady();
  char prefix[kFrameLengthBytes];
  frame.copy(prefix, kFrameLengthBytes);
  EXPECT_EQ(DecodeFrameLength(prefix), frame.size() - kFrameLengthBytes);
  EXPECT_TRUE(DecodeReady(Payload(frame)).ok());
}

TEST(RenderWireTest, InitRoundTrips) {
  WorkerInit init;
  init.options = {.display_size = 1200, .thumbnail_size = 128, .format = PreviewFormat::kGif,
                  .quality = 55, .webp_effort = 4};
  init.memory_limit = 5'000'000'000;
  absl::StatusOr<WorkerInit> back = DecodeInit(Payload(EncodeInit(init)));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->options.display_size, 1200);
  EXPECT_EQ(back->options.thumbnail_size, 128);
  EXPECT_EQ(back->options.format, PreviewFormat::kGif);
  EXPECT_EQ(back->options.quality, 55);
  EXPECT_EQ(back->options.webp_effort, 4);
  EXPECT_EQ(back->memory_limit, 5'000'000'000u);
}

TEST(RenderWireTest, RequestCarriesHeaderAndBytesInPlace) {
  const ImageHeader header{FileType::kGif, 640, 480, 12, 7};
  const std::string frame = EncodeRequestHead(header, 7) + "GIF89a!";
  char prefix[kFrameLengthBytes];
  frame.copy(prefix, kFrameLengthBytes);
  EXPECT_EQ(DecodeFrameLength(prefix), frame.size() - kFrameLengthBytes);
  const std::string_view payload = Payload(frame);
  absl::StatusOr<RenderRequest> request = DecodeRequest(payload);
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(request->header.type, FileType::kGif);
  EXPECT_EQ(request->header.width, 640);
  EXPECT_EQ(request->header.height, 480);
  EXPECT_EQ(request->header.frame_count, 12);
  EXPECT_EQ(request->header.bytes, 7u);
  EXPECT_EQ(request->bytes, "GIF89a!");
  EXPECT_EQ(request->bytes.data(), payload.data() + payload.size() - 7);  // no copy
}

TEST(RenderWireTest, RenditionsRoundTrip) {
  absl::StatusOr<absl::StatusOr<Renditions>> back =
      DecodeResponse(Payload(EncodeResponse(SomeRenditions())));
  ASSERT_TRUE(back.ok()) << back.status();
  ASSERT_TRUE(back->ok()) << back->status();
  const Renditions& r = **back;
  EXPECT_EQ(r.width, 4000);
  EXPECT_EQ(r.height, 3000);
  EXPECT_EQ(r.frame_count, 3);
  EXPECT_EQ(r.thumbnail.rendition, Rendition::kThumbnail);
  EXPECT_EQ(r.thumbnail.mime_type, "image/webp");
  EXPECT_EQ(r.thumbnail.width, 256);
  EXPECT_EQ(r.thumbnail.height, 192);
  EXPECT_EQ(*r.thumbnail.data, std::string("thumb\0bytes", 11));
  EXPECT_EQ(r.display.rendition, Rendition::kDisplay);
  EXPECT_EQ(r.display.width, 1600);
  EXPECT_EQ(*r.display.data, std::string(100000, 'd'));
}

TEST(RenderWireTest, RejectionKeepsReasonMimeAndMessage) {
  const absl::Status rejected =
      Reject(RejectReason::kCorruptImage, "image/png", "the image could not be decoded");
  absl::StatusOr<absl::StatusOr<Renditions>> back =
      DecodeResponse(Payload(EncodeResponse(rejected)));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(back->status().message(), "the image could not be decoded");
  EXPECT_EQ(GetRejectReason(back->status()), RejectReason::kCorruptImage);
  EXPECT_EQ(GetDetectedMime(back->status()), "image/png");
}

TEST(RenderWireTest, OtherErrorsKeepTheirCode) {
  absl::StatusOr<absl::StatusOr<Renditions>> back =
      DecodeResponse(Payload(EncodeResponse(absl::InternalError("out of memory while rendering"))));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->status().code(), absl::StatusCode::kInternal);
  EXPECT_EQ(back->status().message(), "out of memory while rendering");
  EXPECT_EQ(GetRejectReason(back->status()), RejectReason::kNone);
}

TEST(RenderWireTest, EveryTruncationIsAnError) {
  const std::string response = std::string(Payload(EncodeResponse(SomeRenditions())));
  const std::string error = std::string(Payload(EncodeResponse(
      Reject(RejectReason::kCorruptImage, "image/gif", "broken"))));
  const std::string init = std::string(Payload(EncodeInit({})));
  const std::string request = std::string(Payload(EncodeRequestHead({FileType::kJpeg, 1, 1}, 0)));
  for (size_t n = 0; n < response.size(); n += (n < 200 ? 1 : 997)) {
    EXPECT_FALSE(DecodeResponse(response.substr(0, n)).ok()) << n;
  }
  for (size_t n = 0; n < error.size(); ++n) EXPECT_FALSE(DecodeResponse(error.substr(0, n)).ok()) << n;
  for (size_t n = 0; n < init.size(); ++n) EXPECT_FALSE(DecodeInit(init.substr(0, n)).ok()) << n;
  // A request's image bytes run to the end, so only its fixed part can be cut.
  for (size_t n = 0; n < request.size(); ++n) {
    EXPECT_FALSE(DecodeRequest(request.substr(0, n)).ok()) << n;
  }
  EXPECT_FALSE(DecodeResponse(response + "x").ok());
  EXPECT_FALSE(DecodeInit(init + "x").ok());
}

TEST(RenderWireTest, OutOfRangeFieldsAreRefused) {
  std::string error = std::string(Payload(EncodeResponse(absl::InternalError("x"))));
  error[1] = 0;  // code OK in an error answer
  EXPECT_FALSE(DecodeResponse(error).ok());
  error[1] = 99;  // no such code
  EXPECT_FALSE(DecodeResponse(error).ok());
  error[1] = 13;
  error[2] = 42;  // no such reject reason
  EXPECT_FALSE(DecodeResponse(error).ok());

  std::string request = std::string(Payload(EncodeRequestHead({FileType::kJpeg, 1, 1}, 0)));
  request[1] = 0;  // kUnknown: no loader
  EXPECT_FALSE(DecodeRequest(request).ok());
  request[1] = 9;
  EXPECT_FALSE(DecodeRequest(request).ok());
  request = std::string(Payload(EncodeRequestHead({FileType::kJpeg, -5, 1}, 0)));
  EXPECT_FALSE(DecodeRequest(request).ok());

  Renditions r = SomeRenditions();
  r.frame_count = 0;
  EXPECT_FALSE(DecodeResponse(Payload(EncodeResponse(r))).ok());
  std::string response = std::string(Payload(EncodeResponse(SomeRenditions())));
  response[13] = 7;  // the thumbnail's rendition
  EXPECT_FALSE(DecodeResponse(response).ok());
  EXPECT_FALSE(DecodeResponse("").ok());
  EXPECT_FALSE(DecodeResponse("Z").ok());
}

TEST(RenderWireTest, GarbageIsAnErrorOrAValidMessageNeverACrash) {
  std::mt19937 random(20240604);
  const std::string valid = std::string(Payload(EncodeResponse(SomeRenditions())));
  for (int i = 0; i < 20000; ++i) {
    std::string garbage;
    if (i % 2 == 0) {
      garbage.resize(random() % 64);
      for (char& c : garbage) c = static_cast<char>(random());
      if (!garbage.empty()) garbage[0] = "IRQKE"[random() % 5];
    } else {  // a valid answer with a few bytes changed
      garbage = valid.substr(0, 200);
      for (int k = 0; k < 3; ++k) garbage[random() % garbage.size()] = static_cast<char>(random());
    }
    (void)DecodeResponse(garbage);
    (void)DecodeRequest(garbage);
    (void)DecodeInit(garbage);
    (void)DecodeReady(garbage);
  }
}

class SocketPair : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fds_), 0); }
  void TearDown() override {
    for (int fd : fds_) {
      if (fd >= 0) close(fd);
    }
  }
  int fds_[2] = {-1, -1};
};

TEST_F(SocketPair, AFrameLargerThanTheSocketBufferArrivesWhole) {
  const std::string bytes(8 << 20, 'x');
  const std::string head = EncodeRequestHead({FileType::kPng, 1, 1}, bytes.size());
  absl::Status written;
  std::thread writer([&] { written = WriteParts(fds_[0], {head, bytes}, absl::InfiniteFuture()); });
  absl::StatusOr<std::string> frame =
      ReadFrame(fds_[1], absl::Now() + absl::Seconds(30), kMaxRequestFrameBytes);
  writer.join();
  ASSERT_TRUE(written.ok()) << written;
  ASSERT_TRUE(frame.ok()) << frame.status();
  absl::StatusOr<RenderRequest> request = DecodeRequest(*frame);
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(request->bytes, bytes);
}

TEST_F(SocketPair, AnOversizedFrameIsRefusedBeforeItIsRead) {
  ASSERT_EQ(write(fds_[0], "\xff\xff\xff\xff", 4), 4);
  absl::StatusOr<std::string> frame =
      ReadFrame(fds_[1], absl::Now() + absl::Seconds(5), kMaxResponseFrameBytes);
  EXPECT_EQ(frame.status().code(), absl::StatusCode::kDataLoss);
}

TEST_F(SocketPair, ReadingStopsAtTheDeadline) {
  const absl::Time start = absl::Now();
  absl::StatusOr<std::string> frame =
      ReadFrame(fds_[1], start + absl::Milliseconds(50), kMaxResponseFrameBytes);
  EXPECT_EQ(frame.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(50));
}

TEST_F(SocketPair, AClosedPeerIsUnavailableAndAHalfFrameIsDataLoss) {
  ASSERT_EQ(write(fds_[0], "\x10\x00\x00\x00" "abc", 7), 7);
  close(fds_[0]);
  fds_[0] = -1;
  absl::StatusOr<std::string> frame =
      ReadFrame(fds_[1], absl::Now() + absl::Seconds(5), kMaxResponseFrameBytes);
  EXPECT_EQ(frame.status().code(), absl::StatusCode::kDataLoss);
  frame = ReadFrame(fds_[1], absl::Now() + absl::Seconds(5), kMaxResponseFrameBytes);
  EXPECT_EQ(frame.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(WriteParts(fds_[1], {"x"}, absl::Now() + absl::Seconds(5)).code(),
            absl::StatusCode::kUnavailable);  // EPIPE, and no SIGPIPE
}

}  // namespace
}  // namespace docshare
