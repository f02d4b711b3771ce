#ifndef DOCSHARE_PIPELINE_ISOLATED_RENDERER_H_
#define DOCSHARE_PIPELINE_ISOLATED_RENDERER_H_

#include <sys/types.h>

#include <condition_variable>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/time/time.h"
#include "service/common/observer.h"
#include "service/pipeline/render.h"

namespace docshare {

struct IsolationOptions {
  std::string worker_path;  // docshare-render-worker
  int workers = 1;          // one per render pool thread
  absl::Duration timeout = absl::Seconds(10);  // per share, then SIGKILL
  uint64_t memory_limit = 1ull << 30;          // bytes one render may map; 0: none
};

// docshare-render-worker next to this process's executable
// (/proc/self/exe's directory): the server's and the test binaries' build dir.
std::string DefaultRenderWorkerPath();

// Renders in worker processes (render_worker.h), one render per worker at a
// time, over a socket pair each. Workers start with the renderer (exec'd by
// posix_spawn with only their socket; nothing of the server's memory, no
// session, no token) and are respawned when one is lost.
//
// A lost worker fails only its own share, and its share fails for good
// (INVALID_ARGUMENT, REJECT_REASON_CORRUPT_IMAGE): the same bytes would only
// crash or stall the next worker too.
//   crashed, aborted, out of memory, or garbage on the socket:
//       "the image could not be decoded safely"
//   still busy after `timeout`: SIGKILL, "rendering took longer than N s"
// A worker that cannot start (or died idle) is not the file's fault:
// INTERNAL. Each loss is reported to Observer::RenderWorkerLost.
//
// Thread-safe. More concurrent Render calls than workers wait for one.
class IsolatedRenderer final : public Renderer {
 public:
  IsolatedRenderer(RenderOptions options, IsolationOptions isolation, Observer& observer);
  ~IsolatedRenderer() override;  // SIGKILLs and reaps every worker

  absl::StatusOr<Renditions> Render(std::string_view bytes,
                                    const ImageHeader& header) override;

  // For tests: the worker pids (-1 for a slot without one) and how many
  // renders hold a worker now.
  std::vector<pid_t> worker_pids() const;
  int busy() const;

 private:
  struct Worker {
    pid_t pid = -1;
    int fd = -1;
    bool ready = false;  // its Ready frame was read
  };

  int Acquire();
  void Release(int slot);
  absl::Status Spawn(Worker& w);
  // SIGKILLs and reaps `w`, reports the loss; returns how it ended.
  std::string Retire(Worker& w, std::string_view reason);
  // A started worker that answered Ready and has not died while idle.
  absl::Status EnsureReady(Worker& w, absl::Time deadline);
  absl::StatusOr<Renditions> RenderOn(Worker& w, std::string_view bytes,
                                      const ImageHeader& header);

  const RenderOptions options_;
  const IsolationOptions isolation_;
  Observer& observer_;

  mutable std::mutex mu_;
  std::condition_variable free_cv_;
  std::vector<Worker> workers_;  // a slot is owned by whoever took it from free_
  std::vector<int> free_;
};

}  // namespace docshare

#endif  // DOCSHARE_PIPELINE_ISOLATED_RENDERER_H_
