#include "service/pipeline/render_wire.h"

#include <sys/socket.h>
#include <unistd.h>

#include <random>
#include <string>
#include <thread>

#include "docshare/internal/render_worker.pb.h"
#include "gtest/gtest.h"
#include "service/common/reject.h"
#include "service/pipeline/vips_boundary.h"
#include "tests/support/hostile.h"

namespace docshare {
namespace {

std::string_view Payload(const std::string& frame) {
  return std::string_view(frame).substr(kFrameLengthBytes);
}

// A real render of a 40x30 JPEG: the server checks previews' bytes.
const ImageHeader kJpegHeader{FileType::kJpeg, 40, 30, 1, 1000};
Renditions SomeRenditions() {
  static const Renditions* const rendered = [] {
    EXPECT_TRUE(InitVips("isolation_tests").ok());
    absl::StatusOr<Renditions> r =
        VipsRenderer(RenderOptions{}).Render(testing::SmallJpeg(40, 30), kJpegHeader);
    EXPECT_TRUE(r.ok()) << r.status();
    return new Renditions(r.ok() ? *r : Renditions{});
  }();
  return *rendered;
}

absl::StatusOr<absl::StatusOr<Renditions>> Decode(std::string_view payload) {
  return DecodeResponse(payload, kJpegHeader, RenderOptions{});
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
  init.options = {.display_size = 1200,
                  .thumbnail_size = 128,
                  .format = PreviewFormat::kGif,
                  .quality = 55,
                  .webp_effort = 4,
                  .max_preview_bytes = 123456};
  init.memory_limit = 5'000'000'000;
  init.heap_keep_bytes = 32 << 20;
  absl::StatusOr<WorkerInit> back = DecodeInit(Payload(EncodeInit(init)));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->options.display_size, 1200);
  EXPECT_EQ(back->options.thumbnail_size, 128);
  EXPECT_EQ(back->options.format, PreviewFormat::kGif);
  EXPECT_EQ(back->options.quality, 55);
  EXPECT_EQ(back->options.webp_effort, 4);
  EXPECT_EQ(back->options.max_preview_bytes, 123456u);
  EXPECT_EQ(back->memory_limit, 5'000'000'000u);
  EXPECT_EQ(back->heap_keep_bytes, 32u << 20);
}

TEST(RenderWireTest, InitWithAHeapKeepOverItsBoundIsMalformed) {
  WorkerInit init;
  init.heap_keep_bytes = kMaxHeapKeepBytes + 1;
  absl::StatusOr<WorkerInit> back = DecodeInit(Payload(EncodeInit(init)));
  EXPECT_TRUE(absl::IsDataLoss(back.status())) << back.status();
  init.heap_keep_bytes = kMaxHeapKeepBytes;
  EXPECT_TRUE(DecodeInit(Payload(EncodeInit(init))).ok());
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
  const Renditions sent = SomeRenditions();
  absl::StatusOr<absl::StatusOr<Renditions>> back = Decode(Payload(EncodeResponse(sent)));
  ASSERT_TRUE(back.ok()) << back.status();
  ASSERT_TRUE(back->ok()) << back->status();
  const Renditions& r = **back;
  EXPECT_EQ(r.width, 40);
  EXPECT_EQ(r.height, 30);
  EXPECT_EQ(r.frame_count, 1);
  EXPECT_EQ(r.thumbnail.rendition, Rendition::kThumbnail);
  EXPECT_EQ(r.thumbnail.mime_type, "image/webp");
  EXPECT_EQ(r.thumbnail.width, 40);
  EXPECT_EQ(r.thumbnail.height, 30);
  EXPECT_EQ(*r.thumbnail.data, *sent.thumbnail.data);
  EXPECT_EQ(r.display.rendition, Rendition::kDisplay);
  EXPECT_EQ(*r.display.data, *sent.display.data);
}

TEST(RenderWireTest, TheRequestAndResponseHeadersAreProtobuf) {
  const std::string frame = EncodeRequestHead(kJpegHeader, 3) + "abc";
  const std::string_view payload = Payload(frame);
  const uint32_t header_bytes =
      static_cast<uint8_t>(payload[0]) | static_cast<uint8_t>(payload[1]) << 8 |
      static_cast<uint8_t>(payload[2]) << 16 | static_cast<uint8_t>(payload[3]) << 24;
  internal::ToWorker message;
  ASSERT_TRUE(message.ParseFromArray(payload.data() + 4, static_cast<int>(header_bytes)));
  ASSERT_TRUE(message.has_request());
  EXPECT_EQ(message.request().type(), internal::IMAGE_TYPE_JPEG);
  EXPECT_EQ(message.request().width(), 40);
  EXPECT_EQ(message.request().image_bytes(), 3u);
  EXPECT_EQ(payload.substr(4 + header_bytes), "abc");
}

TEST(RenderWireTest, RejectionKeepsReasonAndMessageWithTheHeadersMime) {
  const absl::Status rejected =
      Reject(RejectReason::kCorruptImage, "image/jpeg", "the image could not be decoded");
  absl::StatusOr<absl::StatusOr<Renditions>> back =
      Decode(Payload(EncodeResponse(rejected)));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(back->status().message(), "the image could not be decoded");
  EXPECT_EQ(GetRejectReason(back->status()), RejectReason::kCorruptImage);
  EXPECT_EQ(GetDetectedMime(back->status()), "image/jpeg");
  // No MIME from the worker: the header's.
  back = Decode(Payload(EncodeResponse(Reject(RejectReason::kCorruptImage, "", "bad"))));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(GetDetectedMime(back->status()), "image/jpeg");
}

TEST(RenderWireTest, InternalErrorsKeepTheirCode) {
  absl::StatusOr<absl::StatusOr<Renditions>> back = Decode(
      Payload(EncodeResponse(absl::InternalError("out of memory while rendering"))));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->status().code(), absl::StatusCode::kInternal);
  EXPECT_EQ(back->status().message(), "out of memory while rendering");
  EXPECT_EQ(GetRejectReason(back->status()), RejectReason::kNone);
}

TEST(RenderWireTest, EveryTruncationIsAnError) {
  const std::string response = std::string(Payload(EncodeResponse(SomeRenditions())));
  const std::string error = std::string(Payload(
      EncodeResponse(Reject(RejectReason::kCorruptImage, "image/jpeg", "broken"))));
  const std::string init = std::string(Payload(EncodeInit({})));
  const std::string request = std::string(Payload(EncodeRequestHead(kJpegHeader, 0)));
  for (size_t n = 0; n < response.size(); ++n) {
    EXPECT_FALSE(Decode(response.substr(0, n)).ok()) << n;
  }
  for (size_t n = 0; n < error.size(); ++n) {
    EXPECT_FALSE(Decode(error.substr(0, n)).ok()) << n;
  }
  for (size_t n = 0; n < init.size(); ++n) {
    EXPECT_FALSE(DecodeInit(init.substr(0, n)).ok()) << n;
  }
  for (size_t n = 0; n < request.size(); ++n) {
    EXPECT_FALSE(DecodeRequest(request.substr(0, n)).ok()) << n;
  }
  EXPECT_FALSE(Decode(response + "x").ok());
  EXPECT_FALSE(Decode(error + "x").ok());
  EXPECT_FALSE(DecodeInit(init + "x").ok());
  EXPECT_FALSE(DecodeRequest(request + "x").ok()) << "more bytes than announced";
}

TEST(RenderWireTest, OutOfRangeFieldsAreRefused) {
  internal::ToWorker message;
  internal::RenderRequest& request = *message.mutable_request();
  request.set_type(internal::IMAGE_TYPE_UNSPECIFIED);  // no loader
  request.set_width(1);
  request.set_height(1);
  request.set_frame_count(1);
  auto payload = [&] {
    const std::string head = message.SerializeAsString();
    std::string out(4, '\0');
    out[0] = static_cast<char>(head.size());
    return out + head;
  };
  EXPECT_FALSE(DecodeRequest(payload()).ok());
  request.set_type(static_cast<internal::ImageType>(9));
  EXPECT_FALSE(DecodeRequest(payload()).ok());
  request.set_type(internal::IMAGE_TYPE_PNG);
  EXPECT_TRUE(DecodeRequest(payload()).ok());
  request.set_width(-5);
  EXPECT_FALSE(DecodeRequest(payload()).ok());
  request.set_width(1);
  request.set_frame_count(0);
  EXPECT_FALSE(DecodeRequest(payload()).ok());

  EXPECT_FALSE(Decode("").ok());
  EXPECT_FALSE(Decode("Z").ok());
  EXPECT_FALSE(Decode(std::string("\xff\xff\x00\x00", 4)).ok()) << "header past the end";
  EXPECT_FALSE(Decode(Payload(EncodeReady())).ok()) << "a Ready is not an answer";
  EXPECT_FALSE(DecodeInit(Payload(EncodeReady())).ok());
}

TEST(RenderWireTest, GarbageIsAnErrorOrAValidMessageNeverACrash) {
  std::mt19937 random(20240604);
  const std::string valid = std::string(Payload(EncodeResponse(SomeRenditions())));
  for (int i = 0; i < 20000; ++i) {
    std::string garbage;
    if (i % 2 == 0) {
      garbage.resize(random() % 64);
      for (char& c : garbage) c = static_cast<char>(random());
      if (garbage.size() >= 4) garbage.replace(0, 4, std::string("\x10\0\0\0", 4));
    } else {  // a valid answer with a few bytes changed
      garbage = valid;
      for (int k = 0; k < 3; ++k) {
        garbage[random() % std::min<size_t>(garbage.size(), 300)] =
            static_cast<char>(random());
      }
    }
    (void)Decode(garbage);
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
  const std::string head = EncodeRequestHead({FileType::kPng, 1, 1, 1}, bytes.size());
  absl::Status written;
  std::thread writer([&] {
    written = WriteParts(fds_[0], {head, bytes}, absl::InfiniteFuture());
  });
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
  EXPECT_EQ(frame.status().code(), absl::StatusCode::kResourceExhausted);
}

TEST_F(SocketPair, ReadingStopsAtTheDeadline) {
  const absl::Time start = absl::Now();
  absl::StatusOr<std::string> frame =
      ReadFrame(fds_[1], start + absl::Milliseconds(50), kMaxResponseFrameBytes);
  EXPECT_EQ(frame.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(50));
}

TEST_F(SocketPair, AClosedPeerIsUnavailableAndAHalfFrameIsDataLoss) {
  ASSERT_EQ(write(fds_[0],
                  "\x10\x00\x00\x00"
                  "abc",
                  7),
            7);
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
