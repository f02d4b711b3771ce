#include "service/pipeline/upload_buffer.h"

#include <string>

#include "gtest/gtest.h"
#include "service/common/reject.h"

namespace docshare {
namespace {

TEST(UploadBufferTest, CollectsChunksAndExposesTheHead) {
  UploadBuffer buffer(/*max_bytes=*/10'000, /*declared_size=*/0);
  ASSERT_TRUE(buffer.CheckDeclaredSize().ok());
  ASSERT_TRUE(buffer.Append(std::string(3000, 'a'), "").ok());
  EXPECT_FALSE(buffer.HeadReady());
  EXPECT_EQ(buffer.head().size(), 3000u);
  ASSERT_TRUE(buffer.Append(std::string(3000, 'b'), "image/png").ok());
  EXPECT_TRUE(buffer.HeadReady());
  EXPECT_EQ(buffer.head().size(), UploadBuffer::kHeadBytes);
  EXPECT_EQ(buffer.head().back(), 'b');
  EXPECT_EQ(buffer.size(), 6000u);
  EXPECT_TRUE(buffer.Finish().ok());
  EXPECT_EQ(buffer.TakeBytes(), std::string(3000, 'a') + std::string(3000, 'b'));
}

TEST(UploadBufferTest, OverTheLimitIsFileTooLargeAtOnce) {
  UploadBuffer buffer(/*max_bytes=*/100, /*declared_size=*/0);
  ASSERT_TRUE(buffer.Append(std::string(100, 'x'), "image/jpeg").ok());
  absl::Status status = buffer.Append("y", "image/jpeg");
  EXPECT_EQ(GetRejectReason(status), RejectReason::kFileTooLarge);
  EXPECT_EQ(GetDetectedMime(status), "image/jpeg");
  EXPECT_TRUE(absl::IsInvalidArgument(status));
  EXPECT_EQ(buffer.size(), 100u);  // the refused chunk was not kept
}

TEST(UploadBufferTest, DeclaredSizeOverTheLimitIsRefusedBeforeAnyByte) {
  UploadBuffer buffer(/*max_bytes=*/100, /*declared_size=*/101);
  absl::Status status = buffer.CheckDeclaredSize();
  EXPECT_EQ(GetRejectReason(status), RejectReason::kFileTooLarge);
  EXPECT_EQ(GetDetectedMime(status), "");
  EXPECT_NE(status.message().find("101"), std::string::npos);
  EXPECT_TRUE(UploadBuffer(100, 100).CheckDeclaredSize().ok());
}

TEST(UploadBufferTest, MoreBytesThanDeclaredIsABrokenUpload) {
  UploadBuffer buffer(/*max_bytes=*/1000, /*declared_size=*/10);
  ASSERT_TRUE(buffer.Append(std::string(10, 'x'), "").ok());
  absl::Status status = buffer.Append("z", "");
  EXPECT_TRUE(absl::IsInvalidArgument(status));
  EXPECT_EQ(GetRejectReason(status), RejectReason::kNone);
}

TEST(UploadBufferTest, FewerBytesThanDeclaredIsABrokenUpload) {
  UploadBuffer buffer(/*max_bytes=*/1000, /*declared_size=*/10);
  ASSERT_TRUE(buffer.Append(std::string(9, 'x'), "").ok());
  absl::Status status = buffer.Finish();
  EXPECT_TRUE(absl::IsInvalidArgument(status));
  EXPECT_EQ(GetRejectReason(status), RejectReason::kNone);
  ASSERT_TRUE(buffer.Append("x", "").ok());
  EXPECT_TRUE(buffer.Finish().ok());
}

}  // namespace
}  // namespace docshare
