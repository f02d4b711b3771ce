// Makes gRPC's hand-off of a completed operation visible to ThreadSanitizer.
//
// Debian's gRPC is not built with TSan. A batch started on one thread
// (grpc_call_start_batch, with a tag) completes on another (grpc_cq_end_op,
// with the same tag) after passing through gRPC's lock-free event engine,
// which TSan cannot see; the callback then runs grpcpp's inline code and our
// reactor, compiled with TSan, and every access looks unordered with the
// thread that started the batch. gRPC orders them: starting a batch happens
// before its tag completes. This file says so to TSan (release on start,
// acquire on completion), interposing the entry points as absl_sync.cc does.
//
// Linked into the TSan test executables only (CMakeLists.txt).
#include <grpc/grpc.h>
#include <sanitizer/tsan_interface.h>

#include "absl/status/status.h"
#include "tests/tsan/interpose.h"

struct grpc_cq_completion;

// src/core/lib/surface/completion_queue.h (gRPC 1.51): called by gRPC's core,
// through its PLT, when an operation with `tag` has completed.
void grpc_cq_end_op(grpc_completion_queue* cq, void* tag, absl::Status error,
                    void (*done)(void* done_arg, grpc_cq_completion* storage),
                    void* done_arg, grpc_cq_completion* storage, bool internal);

namespace {
using docshare::tsan::Next;
}  // namespace

void grpc_cq_end_op(grpc_completion_queue* cq, void* tag, absl::Status error,
                    void (*done)(void* done_arg, grpc_cq_completion* storage),
                    void* done_arg, grpc_cq_completion* storage, bool internal) {
  static const auto next = Next<decltype(&grpc_cq_end_op)>(&grpc_cq_end_op);
  __tsan_acquire(tag);
  next(cq, tag, std::move(error), done, done_arg, storage, internal);
}

extern "C" {

grpc_call_error grpc_call_start_batch(grpc_call* call, const grpc_op* ops, size_t nops,
                                      void* tag, void* reserved) {
  static const auto next = Next<decltype(&grpc_call_start_batch)>(&grpc_call_start_batch);
  __tsan_release(tag);
  return next(call, ops, nops, tag, reserved);
}

void grpc_server_shutdown_and_notify(grpc_server* server, grpc_completion_queue* cq,
                                     void* tag) {
  static const auto next =
      Next<decltype(&grpc_server_shutdown_and_notify)>(&grpc_server_shutdown_and_notify);
  __tsan_release(tag);
  next(server, cq, tag);
}

}  // extern "C"
