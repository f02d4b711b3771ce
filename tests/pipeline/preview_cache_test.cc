#include "service/pipeline/preview_cache.h"

#include <memory>
#include <string>

#include "gtest/gtest.h"

namespace docshare {
namespace {

Renditions Sized(uint64_t display_bytes, uint64_t thumbnail_bytes) {
  Renditions r;
  r.display.data = std::make_shared<const std::string>(display_bytes, 'd');
  r.thumbnail.data = std::make_shared<const std::string>(thumbnail_bytes, 't');
  r.width = 7;
  return r;
}

TEST(PreviewCacheTest, KeyIsHexSha256) {
  EXPECT_EQ(PreviewCache::Key(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(PreviewCache::Key("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(PreviewCacheTest, ReturnsWhatWasPutSharingTheBytes) {
  PreviewCache cache(1000);
  EXPECT_FALSE(cache.Get("a").has_value());
  const Renditions r = Sized(100, 10);
  cache.Put("a", r);
  std::optional<Renditions> got = cache.Get("a");
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->width, 7);
  EXPECT_EQ(got->display.data.get(), r.display.data.get());  // not copied
  EXPECT_EQ(cache.bytes(), 110u);
}

TEST(PreviewCacheTest, EvictsLeastRecentlyUsedByTotalBytes) {
  PreviewCache cache(300);
  cache.Put("a", Sized(90, 10));
  cache.Put("b", Sized(90, 10));
  cache.Put("c", Sized(90, 10));
  EXPECT_EQ(cache.bytes(), 300u);
  ASSERT_TRUE(cache.Get("a").has_value());  // a is now the most recent
  cache.Put("d", Sized(50, 0));             // evicts b, the least recent
  EXPECT_TRUE(cache.Get("a").has_value());
  EXPECT_FALSE(cache.Get("b").has_value());
  EXPECT_TRUE(cache.Get("c").has_value());
  EXPECT_TRUE(cache.Get("d").has_value());
  EXPECT_EQ(cache.bytes(), 250u);
}

TEST(PreviewCacheTest, ErasePreviewsDropsTheEntriesHoldingThem) {
  PreviewCache cache(1000);
  Renditions withdrawn = Sized(100, 10);
  withdrawn.display.sha256 = "aaa";
  withdrawn.thumbnail.sha256 = "bbb";
  Renditions kept = Sized(50, 5);
  kept.display.sha256 = "ccc";
  kept.thumbnail.sha256 = "ddd";
  cache.Put("s/1/x", withdrawn);
  cache.Put("s/1/y", kept);
  cache.Put("s/2/x", withdrawn);  // the same previews under another key
  EXPECT_EQ(cache.ErasePreviews({"bbb"}), 2u);
  EXPECT_FALSE(cache.Get("s/1/x").has_value());
  EXPECT_FALSE(cache.Get("s/2/x").has_value());
  EXPECT_TRUE(cache.Get("s/1/y").has_value());
  EXPECT_EQ(cache.bytes(), 55u);
  EXPECT_EQ(cache.ErasePreviews({"zzz", ""}), 0u);
}

TEST(PreviewCacheTest, AnEntryLargerThanTheCacheIsNotStored) {
  PreviewCache cache(100);
  cache.Put("small", Sized(40, 0));
  cache.Put("big", Sized(100, 1));
  EXPECT_FALSE(cache.Get("big").has_value());
  EXPECT_TRUE(cache.Get("small").has_value());  // nothing was evicted for it
  EXPECT_EQ(cache.bytes(), 40u);
}

TEST(PreviewCacheTest, PutAgainReplacesAndRecounts) {
  PreviewCache cache(1000);
  cache.Put("a", Sized(100, 0));
  cache.Put("a", Sized(30, 0));
  EXPECT_EQ(cache.bytes(), 30u);
  EXPECT_EQ(cache.Get("a")->display.data->size(), 30u);
}

}  // namespace
}  // namespace docshare

namespace docshare {
namespace {

// Issue 12 attack 7: with one cache for all sessions, a participant could
// tell from the latency whether byte-identical bytes were shared anywhere.
TEST(PreviewCacheScope, BySessionByDefault) {
  PreviewCache cache(1000);
  const std::string a = cache.KeyFor("sess-a/nonce-1", "same bytes");
  EXPECT_EQ(a, cache.KeyFor("sess-a/nonce-1", "same bytes"));
  EXPECT_NE(a, cache.KeyFor("sess-b/nonce-2", "same bytes"));
  EXPECT_NE(a, cache.KeyFor("sess-a/nonce-3", "same bytes")) << "a restarted id";
  cache.Put(a, Sized(10, 1));
  EXPECT_TRUE(cache.Get(cache.KeyFor("sess-a/nonce-1", "same bytes")).has_value());
  EXPECT_FALSE(cache.Get(cache.KeyFor("sess-b/nonce-2", "same bytes")).has_value());
}

TEST(PreviewCacheScope, GlobalSharesAcrossSessions) {
  PreviewCache cache(1000, CacheScope::kGlobal);
  EXPECT_EQ(cache.KeyFor("sess-a/nonce-1", "same bytes"),
            PreviewCache::Key("same bytes"));
  EXPECT_EQ(cache.KeyFor("sess-b/nonce-2", "same bytes"),
            PreviewCache::Key("same bytes"));
}

}  // namespace
}  // namespace docshare
