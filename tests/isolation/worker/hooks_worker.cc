// docshare-render-worker with test hooks, built for isolation_tests only:
// a request whose bytes start with
//   DOCSHARE-TEST-CRASH  aborts the worker mid-render,
//   DOCSHARE-TEST-SLEEP  never answers (until killed),
// anything else renders with VipsRenderer, like the real worker.
#include <unistd.h>

#include <cstdlib>
#include <memory>

#include "service/pipeline/render_worker.h"

namespace docshare {
namespace {

class HookRenderer final : public Renderer {
 public:
  explicit HookRenderer(const RenderOptions& options) : vips_(options) {}
  absl::StatusOr<Renditions> Render(std::string_view bytes,
                                    const ImageHeader& header) override {
    if (bytes.starts_with("DOCSHARE-TEST-CRASH")) std::abort();
    if (bytes.starts_with("DOCSHARE-TEST-SLEEP")) {
      for (;;) pause();
    }
    return vips_.Render(bytes, header);
  }

 private:
  VipsRenderer vips_;
};

}  // namespace
}  // namespace docshare

int main(int argc, char** argv) {
  return docshare::RenderWorkerMain(argc, argv, [](const docshare::RenderOptions& options) {
    return std::make_unique<docshare::HookRenderer>(options);
  });
}
