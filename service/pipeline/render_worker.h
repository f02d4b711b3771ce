#ifndef DOCSHARE_PIPELINE_RENDER_WORKER_H_
#define DOCSHARE_PIPELINE_RENDER_WORKER_H_

// The render worker process (docshare-render-worker): one per render pool
// thread, started by IsolatedRenderer with only its end of a socket pair, as
// fd kRenderWorkerFd. It decodes untrusted images so the server does not: a
// crash, a memory blow-up or an endless loop costs this process and its one
// share, never the sessions.

#include <functional>
#include <memory>

#include "absl/status/status.h"
#include "service/pipeline/render.h"

namespace docshare {

inline constexpr int kRenderWorkerFd = 3;

using RendererFactory = std::function<std::unique_ptr<Renderer>(const RenderOptions&)>;

// The worker's main: closes every other inherited fd, dies with the server
// (a watchdog thread on getppid()), routes GLib's log to its stderr as
// "<level> <text>" lines (the server logs each as JSON), starts libvips,
// reads the Init frame, limits its address space (RLIMIT_AS = what it maps
// after start-up + the init's memory limit), enters its sandbox
// (worker_sandbox.h), answers Ready, then serves requests until the socket
// closes. Returns the process exit status. `make_renderer` is VipsRenderer's
// constructor; tests wrap it.
int RenderWorkerMain(int argc, char** argv, const RendererFactory& make_renderer);

// Keeps up to `bytes` of freed heap for the next render (glibc's
// M_TRIM_THRESHOLD), and serves allocations under half of it (at most
// 32 MiB) from the heap rather than from mmap (M_MMAP_THRESHOLD). With glibc's
// defaults every render's pixel buffers came from fresh mmaps, zeroed by the
// kernel page by page and unmapped again: about a quarter of a render's CPU
// (docs/performance.md). 0 leaves glibc's thresholds alone.
// Under a sanitizer, whose allocator is not glibc's (ASan's mallopt refuses
// everything), it does nothing (build_features.h: kGlibcMalloc).
absl::Status KeepHeap(uint64_t bytes);

// The loop alone: one Response frame per Request frame on `fd`, each render
// under an RLIMIT_CPU of `cpu_seconds` more (0: none). Returns OK when the
// server closes the socket, an error on a broken frame.
absl::Status ServeRenderRequests(int fd, Renderer& renderer, uint32_t cpu_seconds);

}  // namespace docshare

#endif  // DOCSHARE_PIPELINE_RENDER_WORKER_H_
