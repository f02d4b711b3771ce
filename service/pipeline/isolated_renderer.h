#ifndef DOCSHARE_PIPELINE_ISOLATED_RENDERER_H_
#define DOCSHARE_PIPELINE_ISOLATED_RENDERER_H_

#include <sys/types.h>

#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "service/common/observer.h"
#include "service/pipeline/render.h"

namespace docshare {

struct IsolationOptions {
  std::string worker_path;                     // docshare-render-worker
  int workers = 1;                             // one per render pool thread
  absl::Duration timeout = absl::Seconds(10);  // per share, then SIGKILL
  uint64_t memory_limit = 1ull << 30;          // bytes one render may map; 0: none
  // Freed heap a worker keeps for its next render instead of handing it back
  // to the kernel (render_worker.h: KeepHeap); 0: glibc's own thresholds.
  uint64_t heap_keep_bytes = 64ull << 20;
};

// docshare-render-worker next to this process's executable
// (/proc/self/exe's directory): the server's and the test binaries' build dir.
std::string DefaultRenderWorkerPath();

// Renders in worker processes (render_worker.h), one render per worker at a
// time, over a socket pair each. Workers start with the renderer (exec'd by
// posix_spawn with their socket as fd 3, their stdout and stderr a pipe to
// this process, an empty environment, nothing of the server's memory: no
// session, no token, no secret) and sandbox themselves (worker_sandbox.h).
//
// A supervisor thread relays each line a worker writes as one JSON log line
// (Observer::RenderWorkerOutput, with the document it renders), and notices a
// worker that dies while idle (its output closes): it is reaped, reported
// ("idle") and replaced at once, without waiting for a share.
//
// A lost worker fails only its own share, and its share fails for good
// (INVALID_ARGUMENT, REJECT_REASON_CORRUPT_IMAGE): the same bytes would only
// crash or stall the next worker too.
//   crashed, aborted, out of memory, a frame over the limit, or a reply the
//   server refuses (render_wire.h: "bad_reply"):
//       "the image could not be decoded safely"
//   still busy after `timeout`: SIGKILL, "rendering took longer than N s"
// A worker that cannot start is not the file's fault: INTERNAL. Each loss is
// reported to Observer::RenderWorkerLost and RenderWorkerEnded.
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
    pid_t pid = -1;  // written under mu_ by the slot's owner
    // Under mu_: the document it renders, or rendered last (its output may
    // be read after its answer).
    std::string document;
    int fd = -1;         // the slot's owner only
    bool ready = false;  // its Ready frame was read
  };
  // A worker's stdout and stderr, read by the supervisor.
  struct Output {
    pid_t pid;
    int fd;
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

  void Supervise();
  void Relay(pid_t pid, std::string_view line);
  // The worker `pid` closed its output: replaced if it was idle.
  void Exited(pid_t pid);

  const RenderOptions options_;
  const IsolationOptions isolation_;
  Observer& observer_;

  mutable absl::Mutex mu_;
  std::vector<Worker> workers_;  // a slot is owned by whoever took it from free_
  std::vector<int> free_ ABSL_GUARDED_BY(mu_);
  std::vector<Output> new_outputs_ ABSL_GUARDED_BY(mu_);  // for the supervisor
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  int wake_fd_ = -1;  // eventfd: new outputs, or stopping
  std::thread supervisor_;
};

}  // namespace docshare

#endif  // DOCSHARE_PIPELINE_ISOLATED_RENDERER_H_
