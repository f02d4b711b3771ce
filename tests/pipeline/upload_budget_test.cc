// The global in-flight upload byte budget (--max-inflight-upload-bytes):
// refused before bytes are buffered, given back when the bytes are freed.
#include <atomic>
#include <string>

#include "gtest/gtest.h"
#include "service/pipeline/upload_buffer.h"

namespace docshare {
namespace {

class BudgetObserver final : public Observer {
 public:
  void AdmissionRefused(std::string_view limit) override {
    if (limit == "inflight_upload_bytes") ++refused;
  }
  void InflightUploadBytes(uint64_t bytes) override { in_use = bytes; }
  std::atomic<int> refused{0};
  std::atomic<uint64_t> in_use{0};
};

TEST(UploadBudget, ADeclaredSizeIsAdmittedOrRefusedBeforeAnyByte) {
  BudgetObserver observer;
  UploadBudget budget(/*limit=*/1000, observer);
  UploadBuffer first(/*max_bytes=*/800, /*declared_size=*/600, &budget);
  ASSERT_TRUE(first.CheckDeclaredSize().ok());
  EXPECT_EQ(budget.in_use(), 600u);
  EXPECT_EQ(observer.in_use.load(), 600u);
  UploadBuffer second(/*max_bytes=*/800, /*declared_size=*/500, &budget);
  absl::Status refused = second.CheckDeclaredSize();
  EXPECT_TRUE(absl::IsResourceExhausted(refused)) << refused;
  EXPECT_NE(refused.message().find("--max-inflight-upload-bytes"), std::string::npos);
  EXPECT_EQ(second.size(), 0u);
  EXPECT_EQ(observer.refused.load(), 1);
  EXPECT_EQ(budget.in_use(), 600u) << "a refusal reserves nothing";
}

TEST(UploadBudget, AnUnknownSizeIsAdmittedChunkByChunk) {
  BudgetObserver observer;
  UploadBudget budget(/*limit=*/100, observer);
  UploadBuffer buffer(/*max_bytes=*/1000, /*declared_size=*/0, &budget);
  ASSERT_TRUE(buffer.CheckDeclaredSize().ok());
  EXPECT_EQ(budget.in_use(), 0u);
  ASSERT_TRUE(buffer.Append(std::string(60, 'a'), "").ok());
  EXPECT_EQ(budget.in_use(), 60u);
  absl::Status refused = buffer.Append(std::string(60, 'b'), "image/png");
  EXPECT_TRUE(absl::IsResourceExhausted(refused)) << refused;
  EXPECT_EQ(buffer.size(), 60u) << "the refused chunk was not buffered";
  EXPECT_EQ(budget.in_use(), 60u);
}

TEST(UploadBudget, TheBytesAreGivenBackWhenTheirHolderGoes) {
  BudgetObserver observer;
  UploadBudget budget(/*limit=*/100, observer);
  UploadBudget::Lease kept;
  {
    UploadBuffer buffer(/*max_bytes=*/1000, /*declared_size=*/80, &budget);
    ASSERT_TRUE(buffer.CheckDeclaredSize().ok());
    kept = buffer.TakeLease();  // the bytes move on to the render job
  }
  EXPECT_EQ(budget.in_use(), 80u) << "still held by the lease";
  kept = UploadBudget::Lease();
  EXPECT_EQ(budget.in_use(), 0u);
  EXPECT_EQ(observer.in_use.load(), 0u);
  {
    UploadBuffer dropped(/*max_bytes=*/1000, /*declared_size=*/90, &budget);
    ASSERT_TRUE(dropped.CheckDeclaredSize().ok());
    EXPECT_EQ(budget.in_use(), 90u);
  }
  EXPECT_EQ(budget.in_use(), 0u) << "an upload that ended early gives its bytes back";
}

TEST(UploadBudget, ZeroMeansNoLimit) {
  BudgetObserver observer;
  UploadBudget budget(/*limit=*/0, observer);
  UploadBuffer buffer(/*max_bytes=*/1 << 20, /*declared_size=*/1 << 20, &budget);
  EXPECT_TRUE(buffer.CheckDeclaredSize().ok());
  EXPECT_EQ(observer.refused.load(), 0);
}

}  // namespace
}  // namespace docshare
