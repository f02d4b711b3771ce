// docshare-withdraw-bench: withdraw-to-every-watcher latency against a
// RUNNING docshare-server (plaintext gRPC).
//
//   docshare-withdraw-bench --address HOST:PORT --admin-token-file FILE
//       --file IMAGE [--watchers 500] [--rounds 20] [--channels 25] [--urls]
//       [--watch-address HOST:PORT]
//
// One session, --watchers WatchSession streams (spread over --channels
// connections; --watch-address puts them on another replica). Each round
// shares the image, waits until every watcher has its DocumentShared, then
// withdraws it and times, per watcher, from just before WithdrawDocument is
// called to the receipt of its DocumentWithdrawn. Prints p50/p99/max over
// every (watcher, round), and the WithdrawDocument call's own latency.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include "docshare/v1/docshare.grpc.pb.h"
#include "grpcpp/grpcpp.h"

namespace {

namespace v1 = docshare::v1;
using Clock = std::chrono::steady_clock;

[[noreturn]] void Die(const std::string& why) {
  std::cerr << "docshare-withdraw-bench: " << why << "\n";
  std::exit(2);
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) Die("cannot read " + path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

struct Options {
  std::string address = "127.0.0.1:50051";
  std::string watch_address;
  std::string admin_token;
  std::string file;
  int watchers = 500;
  int rounds = 20;
  int channels = 25;
  bool urls = false;
};

Options Parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) Die(a + " needs a value");
      return argv[++i];
    };
    if (a == "--address") {
      o.address = value();
    } else if (a == "--watch-address") {
      o.watch_address = value();
    } else if (a == "--admin-token-file") {
      o.admin_token = ReadAll(value());
      while (!o.admin_token.empty() && std::isspace(o.admin_token.back()))
        o.admin_token.pop_back();
    } else if (a == "--file") {
      o.file = value();
    } else if (a == "--watchers") {
      o.watchers = std::stoi(value());
    } else if (a == "--rounds") {
      o.rounds = std::stoi(value());
    } else if (a == "--channels") {
      o.channels = std::stoi(value());
    } else if (a == "--urls") {
      o.urls = true;
    } else {
      Die("unknown option " + a);
    }
  }
  if (o.admin_token.empty() || o.file.empty()) {
    Die("usage: --address HOST:PORT --admin-token-file FILE --file IMAGE [...]");
  }
  return o;
}

std::shared_ptr<grpc::Channel> NewChannel(const std::string& address, int index) {
  grpc::ChannelArguments args;
  args.SetInt("docshare.withdraw_bench.channel", index);  // its own connection
  args.SetMaxReceiveMessageSize(64 << 20);
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
}

// Counts what one watcher received, and when its last DocumentWithdrawn came.
class Watcher final : public grpc::ClientReadReactor<v1::SessionEvent> {
 public:
  Watcher(v1::SessionService::Stub& stub, const std::string& session,
          const std::string& token, bool urls, std::mutex& mu,
          std::condition_variable& cv)
      : mu_(mu), cv_(cv) {
    ctx_.AddMetadata("authorization", "Bearer " + token);
    req_.set_session_id(session);
    if (urls) req_.set_preview_delivery(v1::PREVIEW_DELIVERY_URL);
    stub.async()->WatchSession(&ctx_, &req_, this);
    StartRead(&event_);
    StartCall();
  }
  void OnReadDone(bool ok) override {
    if (!ok) return;
    {
      std::lock_guard lock(mu_);
      if (event_.has_document_shared()) ++shared;
      if (event_.has_document_withdrawn()) {
        ++withdrawn;
        withdrawn_at = Clock::now();
      }
    }
    cv_.notify_all();
    StartRead(&event_);
  }
  void OnDone(const grpc::Status& s) override {
    {
      std::lock_guard lock(mu_);
      done = true;
      status = s;
    }
    cv_.notify_all();
  }
  void Cancel() { ctx_.TryCancel(); }

  // Guarded by the bench's mutex.
  int shared = 0;
  int withdrawn = 0;
  Clock::time_point withdrawn_at;
  bool done = false;
  grpc::Status status;

 private:
  std::mutex& mu_;
  std::condition_variable& cv_;
  grpc::ClientContext ctx_;
  v1::WatchSessionRequest req_;
  v1::SessionEvent event_;
};

void Authorize(grpc::ClientContext& ctx, const std::string& token) {
  ctx.AddMetadata("authorization", "Bearer " + token);
}

std::string Share(v1::DocumentService::Stub& docs, const std::string& token,
                  const std::string& session, const std::string& bytes) {
  grpc::ClientContext ctx;
  Authorize(ctx, token);
  v1::ShareDocumentResponse resp;
  auto writer = docs.ShareDocument(&ctx, &resp);
  v1::ShareDocumentRequest msg;
  msg.mutable_header()->set_session_id(session);
  msg.mutable_header()->set_filename("bench.jpg");
  msg.mutable_header()->set_size_bytes(bytes.size());
  writer->Write(msg);
  for (size_t off = 0; off < bytes.size(); off += 64 * 1024) {
    msg.set_chunk(bytes.substr(off, 64 * 1024));
    if (!writer->Write(msg)) break;
  }
  writer->WritesDone();
  grpc::Status s = writer->Finish();
  if (!s.ok()) Die("share failed: " + s.error_message());
  return resp.document().document_id();
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * (v.size() - 1) + 0.5))];
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = Parse(argc, argv);
  const std::string image = ReadAll(o.file);
  auto control = NewChannel(o.address, 0);
  auto sessions = v1::SessionService::NewStub(control);
  auto docs = v1::DocumentService::NewStub(control);
  const std::string id = "withdraw-bench-" + std::to_string(getpid());
  v1::StartSessionRequest start;
  start.set_session_id(id);
  v1::StartSessionResponse started;
  {
    grpc::ClientContext ctx;
    Authorize(ctx, o.admin_token);
    grpc::Status s = sessions->StartSession(&ctx, start, &started);
    if (!s.ok()) Die("StartSession: " + s.error_message());
  }
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  std::vector<std::unique_ptr<v1::SessionService::Stub>> stubs;
  for (int c = 0; c < o.channels; ++c) {
    channels.push_back(
        NewChannel(o.watch_address.empty() ? o.address : o.watch_address, c + 1));
    stubs.push_back(v1::SessionService::NewStub(channels.back()));
  }
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::unique_ptr<Watcher>> watchers;
  for (int w = 0; w < o.watchers; ++w) {
    watchers.push_back(std::make_unique<Watcher>(
        *stubs[w % o.channels], id, started.consumer_token(), o.urls, mu, cv));
  }
  auto wait_all = [&](auto have, const char* what) {
    std::unique_lock lock(mu);
    const bool ok = cv.wait_for(lock, std::chrono::seconds(120), [&] {
      return std::all_of(watchers.begin(), watchers.end(),
                         [&](const auto& w) { return w->done || have(*w); });
    });
    for (const auto& w : watchers) {
      if (w->done) Die(std::string("a watcher ended: ") + w->status.error_message());
    }
    if (!ok) Die(std::string("timed out waiting for ") + what);
  };
  std::vector<double> latency_ms, call_ms;
  for (int round = 1; round <= o.rounds; ++round) {
    const std::string doc = Share(*docs, started.agent_token(), id, image);
    wait_all([&](const Watcher& w) { return w.shared >= round; }, "the shares");
    v1::WithdrawDocumentRequest req;
    req.set_session_id(id);
    req.set_document_id(doc);
    v1::WithdrawDocumentResponse resp;
    grpc::ClientContext ctx;
    Authorize(ctx, started.agent_token());
    const auto t0 = Clock::now();
    grpc::Status s = docs->WithdrawDocument(&ctx, req, &resp);
    call_ms.push_back(
        std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    if (!s.ok()) Die("WithdrawDocument: " + s.error_message());
    wait_all([&](const Watcher& w) { return w.withdrawn >= round; }, "the withdrawals");
    std::lock_guard lock(mu);
    for (const auto& w : watchers) {
      latency_ms.push_back(
          std::chrono::duration<double, std::milli>(w->withdrawn_at - t0).count());
    }
  }
  {
    grpc::ClientContext ctx;
    Authorize(ctx, o.admin_token);
    v1::EndSessionRequest end;
    end.set_session_id(id);
    v1::EndSessionResponse ended;
    sessions->EndSession(&ctx, end, &ended);
  }
  for (auto& w : watchers) w->Cancel();
  {
    std::unique_lock lock(mu);
    cv.wait_for(lock, std::chrono::seconds(30), [&] {
      return std::all_of(watchers.begin(), watchers.end(),
                         [](const auto& w) { return w->done; });
    });
  }
  std::printf(
      "withdraw: %d watchers x %d rounds (%s delivery): withdraw-to-every-watcher "
      "p50 %.1f ms, p99 %.1f ms, max %.1f ms; WithdrawDocument call p50 %.1f ms, "
      "p99 %.1f ms\n",
      o.watchers, o.rounds, o.urls ? "url" : "inline", Percentile(latency_ms, 0.5),
      Percentile(latency_ms, 0.99), Percentile(latency_ms, 1.0), Percentile(call_ms, 0.5),
      Percentile(call_ms, 0.99));
  return 0;
}
