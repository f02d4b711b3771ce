// Issue 12, attacks 7 and 9, over real gRPC: what one participant can learn
// about other sessions (the preview cache as a timing oracle), and what a
// filename can make other participants see (bidi controls, zero-width
// characters, separators, BOM; a type hidden by truncation).
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "prometheus/registry.h"
#include "service/metrics/metrics.h"
#include "tests/integration/harness.h"
#include "tests/metrics/scrape.h"
#include "tests/support/files.h"

namespace docshare::testing {
namespace {

std::string Photo() { return ReadFile(CorpusPath("sharp/320x240.jpg")); }

class AttackDisclosure : public ServerTest {
 protected:
  Observer& AppObserver() override { return metrics_; }
  double Count(const std::string& name) { return Value(*registry_, name).value_or(-1); }

  std::shared_ptr<prometheus::Registry> registry_ =
      std::make_shared<prometheus::Registry>();
  Metrics metrics_{*registry_};
};

// Attack 7: a participant re-shares bytes it suspects another session shared
// and times the answer (3 ms cached vs 17-540 ms). With the default
// --preview-cache-scope=session the other session's previews are never
// reused: the probe renders afresh, so there is nothing to time.
TEST_F(AttackDisclosure, ThePreviewCacheDoesNotCrossSessions) {
  const v1::StartSessionResponse victim = StartSession("victim");
  const v1::StartSessionResponse prober = StartSession("prober");
  const std::string photo = Photo();
  ASSERT_TRUE(Share(victim.agent_token(), "victim", photo).status.ok());
  ASSERT_EQ(Count("docshare_preview_cache_misses_total"), 1);

  ASSERT_TRUE(Share(prober.agent_token(), "prober", photo).status.ok());
  EXPECT_EQ(Count("docshare_preview_cache_hits_total"), 0)
      << "another session's previews were reused: the cache is an oracle";
  EXPECT_EQ(Count("docshare_preview_cache_misses_total"), 2);

  // Within one session the cache still works (the same agent re-sharing).
  ASSERT_TRUE(Share(prober.agent_token(), "prober", photo).status.ok());
  EXPECT_EQ(Count("docshare_preview_cache_hits_total"), 1);
}

// Attack 9: what the sharer names the file is what every participant reads.
TEST_F(AttackDisclosure, FilenamesCannotReorderOrHideWhatParticipantsSee) {
  const v1::StartSessionResponse s = StartSession("names");
  // "invoice" RLO "gpj.exe" would read "invoiceexe.jpg" on screen; with a
  // zero-width space, a line separator and a BOM.
  ShareOptions bidi;
  bidi.filename =
      "\xEF\xBB\xBFinvoice\xE2\x80\x8B\xE2\x80\xAEgpj\xE2\x80\xA8"
      ".exe";
  ShareResult shared = Share(s.agent_token(), "names", Photo(), bidi);
  ASSERT_TRUE(shared.status.ok()) << shared.status.error_message();
  EXPECT_EQ(shared.response.document().filename(), "invoicegpj.exe");
  EXPECT_TRUE(shared.response.document().declared_type_mismatch());

  // A long name whose raw extension is .jpg but whose shown (truncated) name
  // ends in .pdf: the flag follows what participants see.
  ShareOptions truncated;
  truncated.filename = std::string(251, 'B') + ".pdf" + std::string(40, 'C') + ".jpg";
  shared = Share(s.agent_token(), "names", Photo(), truncated);
  ASSERT_TRUE(shared.status.ok()) << shared.status.error_message();
  EXPECT_EQ(shared.response.document().filename().size(), 255u);
  EXPECT_TRUE(shared.response.document().filename().ends_with("BBB.pdf"));
  EXPECT_TRUE(shared.response.document().declared_type_mismatch());

  // Watchers get the same shown names.
  const std::vector<v1::SessionEvent> events =
      ReadEvents(s.consumer_token(), "names", 0, 2);
  std::vector<std::string> names;
  for (const v1::SessionEvent& e : events) {
    if (e.has_document_shared())
      names.push_back(e.document_shared().document().filename());
  }
  ASSERT_EQ(names.size(), 2u);
  EXPECT_EQ(names[0], "invoicegpj.exe");
  EXPECT_TRUE(names[1].ends_with("BBB.pdf"));
}

}  // namespace
}  // namespace docshare::testing
