// docshare-render-worker: started by docshare-server (IsolatedRenderer),
// never by hand. See service/pipeline/render_worker.h.
#include "service/pipeline/render_worker.h"

int main(int argc, char** argv) {
  return docshare::RenderWorkerMain(
      argc, argv, [](const docshare::RenderOptions& options) {
        return std::make_unique<docshare::VipsRenderer>(options);
      });
}
