// docshare-bench: load generator for a RUNNING docshare-server (plaintext gRPC).
//
//   docshare-bench --address HOST:PORT --admin-token TOKEN --mode MODE [options]
//
// Modes:
//   share      N uploaders (--uploaders) share M files in total (--shares, default
//              one pass over the inputs) from a folder (--dir) or a list (--files).
//              Every upload gets unique bytes appended after the image's end
//              marker, so the preview cache never answers. Sessions rotate every
//              --session-docs shares (ended, so previews are purged).
//              Prints files/s, MB/s (originals, 10^6 bytes), latency p50/p95/p99,
//              errors; with --server-pid the server's VmHWM (peak RSS; reset at
//              start with --reset-hwm) and RSS after --warmup shares vs at the end.
//   fanout     --sessions K sessions x --watchers W watchers (callback API, at most
//              --streams-per-channel streams per channel); one warm-up share per
//              session (every watcher must see it), then --documents S shares per
//              session (--file, made unique), --interval-ms apart. Prints delivery
//              latency p50/p95/p99/max from ShareDocument's return to each
//              watcher's receipt (0 when it arrived first), from the event's
//              append to the log (SessionEvent.time, same host clock) to receipt,
//              and events/s delivered. --watch-address puts the watchers on
//              another replica (a Redis backplane).
//   reject     --pdfs P uploads of a 30 MiB "%PDF-1.4"+filler file and --bombs B
//              rounds of {PNG 60000x60000, GIF 65535x65535, JPEG with 150 scans},
//              64 KiB chunks. Prints rejects/s, bytes the client managed to send
//              per reject, client latency; with --server-log the server's own
//              bytes read and total_ms per reject (from its JSON share lines).
//   checkfile  --callers C concurrent CheckFile calls on ONE channel for
//              --seconds D (after a 1 s warm-up). Prints calls/s and latency.
//              --background-starts N: meanwhile N clients loop StartSession +
//              EndSession (each a backplane call: with Redis, a Redis round trip).
//   replay     one session of --documents D shares (--file, made unique), then
//              --watchers W WatchSession streams from after_sequence 0 at once
//              (--streams-per-channel per channel). Prints the time until the
//              last watcher has all D events and, with --server-pid, the server's
//              VmRSS before and its highest sampled VmRSS. --no-read: the
//              watchers never read; RSS is sampled for --seconds instead.
//   delay-proxy  a TCP proxy on 127.0.0.1:--listen-port to 127.0.0.1:--to-port
//              that hands every byte from the upstream back --delay-ms late
//              (put between docshare-server and redis-server: each Redis reply
//              arrives that much later). Runs until killed.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>
#include <vips/vips8>

#include "docshare/v1/docshare.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "tests/support/hostile.h"

namespace {

namespace v1 = docshare::v1;
using Clock = std::chrono::steady_clock;

double Ms(Clock::duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}
double Secs(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

struct Options {
  std::string mode, address = "127.0.0.1:50051", admin_token, dir, files, file,
                    server_log;
  std::string watch_address;  // fanout: watchers on another replica (default: --address)
  int server_pid = 0;
  bool reset_hwm = false;
  int uploaders = 2, shares = 0, session_docs = 50, warmup = 0;
  int sessions = 1, watchers = 500, documents = 20, interval_ms = 0,
      streams_per_channel = 90;
  int pdfs = 10, bombs = 30;
  int callers = 64;
  int background_starts = 0;
  bool no_read = false;
  int listen_port = 0, to_port = 0, delay_ms = 200;
  double seconds = 5;
  int chunk = 64 * 1024;
};

[[noreturn]] void Die(const std::string& message) {
  std::cerr << "docshare-bench: " << message << "\n";
  std::exit(2);
}

Options Parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i], v;
    if (a.rfind("--", 0) != 0) Die("unexpected argument " + a);
    a = a.substr(2);
    if (auto eq = a.find('='); eq != std::string::npos) {
      v = a.substr(eq + 1);
      a = a.substr(0, eq);
    } else if (a != "reset-hwm" && a != "no-read") {
      if (i + 1 >= argc) Die("--" + a + " needs a value");
      v = argv[++i];
    }
    if (a == "mode")
      o.mode = v;
    else if (a == "address")
      o.address = v;
    else if (a == "watch-address")
      o.watch_address = v;
    else if (a == "admin-token")
      o.admin_token = v;
    else if (a == "dir")
      o.dir = v;
    else if (a == "files")
      o.files = v;
    else if (a == "file")
      o.file = v;
    else if (a == "server-log")
      o.server_log = v;
    else if (a == "server-pid")
      o.server_pid = std::stoi(v);
    else if (a == "reset-hwm")
      o.reset_hwm = true;
    else if (a == "uploaders")
      o.uploaders = std::stoi(v);
    else if (a == "shares")
      o.shares = std::stoi(v);
    else if (a == "session-docs")
      o.session_docs = std::stoi(v);
    else if (a == "warmup")
      o.warmup = std::stoi(v);
    else if (a == "sessions")
      o.sessions = std::stoi(v);
    else if (a == "watchers")
      o.watchers = std::stoi(v);
    else if (a == "documents")
      o.documents = std::stoi(v);
    else if (a == "interval-ms")
      o.interval_ms = std::stoi(v);
    else if (a == "streams-per-channel")
      o.streams_per_channel = std::stoi(v);
    else if (a == "pdfs")
      o.pdfs = std::stoi(v);
    else if (a == "bombs")
      o.bombs = std::stoi(v);
    else if (a == "callers")
      o.callers = std::stoi(v);
    else if (a == "seconds")
      o.seconds = std::stod(v);
    else if (a == "chunk")
      o.chunk = std::stoi(v);
    else if (a == "background-starts")
      o.background_starts = std::stoi(v);
    else if (a == "no-read")
      o.no_read = true;
    else if (a == "listen-port")
      o.listen_port = std::stoi(v);
    else if (a == "to-port")
      o.to_port = std::stoi(v);
    else if (a == "delay-ms")
      o.delay_ms = std::stoi(v);
    else
      Die("unknown flag --" + a);
  }
  if (o.mode.empty() || (o.admin_token.empty() && o.mode != "delay-proxy")) {
    Die("usage: docshare-bench --mode share|fanout|reject|checkfile|replay|delay-proxy "
        "--address HOST:PORT "
        "--admin-token TOKEN [options] (see the comment at the top of "
        "docshare_bench.cc)");
  }
  return o;
}

// --- helpers -------------------------------------------------------------------

std::shared_ptr<grpc::Channel> NewChannel(const std::string& address, int index) {
  grpc::ChannelArguments args;
  args.SetInt("docshare.bench.channel", index);  // distinct args: its own connection
  args.SetMaxReceiveMessageSize(64 * 1024 * 1024);
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
}

void Authorize(grpc::ClientContext& ctx, const std::string& token, int deadline_s = 120) {
  ctx.AddMetadata("authorization", "Bearer " + token);
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(deadline_s));
}

std::string Trailer(const grpc::ClientContext& ctx, const std::string& key) {
  const auto& md = ctx.GetServerTrailingMetadata();
  auto it = md.find(key);
  return it == md.end() ? std::string()
                        : std::string(it->second.data(), it->second.size());
}

long ProcStatusKb(int pid, const std::string& key) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(key + ":", 0) == 0)
      return std::strtol(line.c_str() + key.size() + 1, nullptr, 10);
  }
  return -1;
}

// The server and its descendants (docshare-render-worker processes).
std::vector<int> ProcessTree(int pid) {
  std::vector<int> out{pid};
  for (size_t i = 0; i < out.size(); ++i) {
    std::error_code ec;
    for (const auto& task : std::filesystem::directory_iterator(
             "/proc/" + std::to_string(out[i]) + "/task", ec)) {
      std::ifstream in(task.path() / "children");
      for (int child; in >> child;) out.push_back(child);
    }
  }
  return out;
}

long TreeKb(int pid, const std::string& key) {
  long sum = 0;
  for (int p : ProcessTree(pid)) sum += std::max(0L, ProcStatusKb(p, key));
  return sum;
}

bool ResetHwm(int root) {  // "5" to clear_refs resets the peak RSS (Linux >= 4.0)
  bool ok = true;
  for (int pid : ProcessTree(root)) {
    std::ofstream out("/proc/" + std::to_string(pid) + "/clear_refs");
    out << "5";
    out.flush();
    ok = ok && static_cast<bool>(out);
  }
  return ok;
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p / 100.0 * (v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

std::string LatencyLine(const std::vector<double>& v) {
  char buf[200];
  std::snprintf(buf, sizeof buf, "p50=%.1fms p95=%.1fms p99=%.1fms max=%.1fms (n=%zu)",
                Percentile(v, 50), Percentile(v, 95), Percentile(v, 99),
                v.empty() ? 0.0 : *std::max_element(v.begin(), v.end()), v.size());
  return buf;
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) Die("cannot read " + path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

struct Input {
  std::string name, bytes;
};

std::vector<Input> LoadInputs(const Options& o) {
  std::vector<std::string> paths;
  if (!o.files.empty()) {
    std::ifstream in(o.files);
    for (std::string line; std::getline(in, line);) {
      if (!line.empty()) paths.push_back(line);
    }
  } else if (!o.dir.empty()) {
    for (const auto& e : std::filesystem::directory_iterator(o.dir)) {
      if (e.is_regular_file()) paths.push_back(e.path().string());
    }
  }
  std::sort(paths.begin(), paths.end());
  std::vector<Input> out;
  for (const auto& p : paths) out.push_back({p, ReadAll(p)});
  return out;
}

std::string MimeOf(const std::string& b) {
  if (b.compare(0, 3, "\xff\xd8\xff") == 0) return "image/jpeg";
  if (b.compare(0, 4, "\x89PNG") == 0) return "image/png";
  if (b.compare(0, 4, "GIF8") == 0) return "image/gif";
  return "application/octet-stream";
}

std::string Unique(const std::string& bytes, uint64_t n) {  // after the end marker
  static const uint64_t salt = std::random_device{}() ^ (uint64_t(getpid()) << 32);
  return bytes + "docshare-bench-unique:" + std::to_string(salt) + ":" +
         std::to_string(n);
}

struct Session {
  std::string id, agent, consumer;
};

Session StartSession(v1::SessionService::Stub& stub, const Options& o,
                     const std::string& id) {
  v1::StartSessionRequest req;
  req.set_session_id(id);
  v1::StartSessionResponse resp;
  grpc::ClientContext ctx;
  Authorize(ctx, o.admin_token, 10);
  grpc::Status s = stub.StartSession(&ctx, req, &resp);
  if (!s.ok()) Die("StartSession " + id + ": " + s.error_message());
  return {id, resp.agent_token(), resp.consumer_token()};
}

void EndSession(v1::SessionService::Stub& stub, const Options& o, const std::string& id) {
  v1::EndSessionRequest req;
  req.set_session_id(id);
  v1::EndSessionResponse resp;
  grpc::ClientContext ctx;
  Authorize(ctx, o.admin_token, 10);
  grpc::Status s = stub.EndSession(&ctx, req, &resp);
  if (!s.ok()) std::cerr << "EndSession " << id << ": " << s.error_message() << "\n";
}

struct ShareResult {
  grpc::Status status;
  std::string document_id, reject_reason;
  size_t bytes_sent = 0;  // chunk bytes whose Write succeeded
  double ms = 0;
};

ShareResult Share(v1::DocumentService::Stub& stub, const std::string& token,
                  const std::string& session, const std::string& filename,
                  const std::string& bytes, size_t chunk) {
  ShareResult r;
  const auto start = Clock::now();
  grpc::ClientContext ctx;
  Authorize(ctx, token);
  v1::ShareDocumentResponse resp;
  auto writer = stub.ShareDocument(&ctx, &resp);
  v1::ShareDocumentRequest msg;
  auto* h = msg.mutable_header();
  h->set_session_id(session);
  h->set_filename(filename);
  h->set_declared_mime_type(MimeOf(bytes));
  h->set_size_bytes(bytes.size());
  bool open = writer->Write(msg);
  for (size_t off = 0; open && off < bytes.size(); off += chunk) {
    const size_t n = std::min(chunk, bytes.size() - off);
    msg.set_chunk(bytes.data() + off, n);
    open = writer->Write(msg);
    if (open) r.bytes_sent += n;
  }
  writer->WritesDone();
  r.status = writer->Finish();
  r.ms = Ms(Clock::now() - start);
  r.document_id = resp.document().document_id();
  r.reject_reason = Trailer(ctx, "docshare-reject-reason");
  return r;
}

std::atomic<long> g_tree_peak_kb{0};  // highest sampled RSS of server + workers

void PrintRss(const Options& o, const char* label) {
  if (o.server_pid <= 0) return;
  std::printf("%s: server pid=%d VmHWM(peak RSS)=%.1f MB VmRSS=%.1f MB\n", label,
              o.server_pid, ProcStatusKb(o.server_pid, "VmHWM") / 1024.0,
              ProcStatusKb(o.server_pid, "VmRSS") / 1024.0);
  const std::vector<int> tree = ProcessTree(o.server_pid);
  std::printf(
      "%s: server + %zu worker process(es): VmRSS now=%.1f MB, sum of VmHWM=%.1f MB",
      label, tree.size() - 1, TreeKb(o.server_pid, "VmRSS") / 1024.0,
      TreeKb(o.server_pid, "VmHWM") / 1024.0);
  if (g_tree_peak_kb > 0) {
    std::printf(", highest sampled sum of VmRSS=%.1f MB", g_tree_peak_kb.load() / 1024.0);
  }
  std::printf("\n");
}

// --- share -------------------------------------------------------------------------

int RunShare(const Options& o) {
  const std::vector<Input> inputs = LoadInputs(o);
  if (inputs.empty()) Die("share: no input files (--dir or --files)");
  const int total = o.shares > 0 ? o.shares : static_cast<int>(inputs.size());
  if (o.server_pid > 0 && o.reset_hwm && !ResetHwm(o.server_pid)) {
    std::cerr << "share: could not reset the server's VmHWM\n";
  }
  std::atomic<int> next{0}, done{0};
  std::atomic<long> rss_warm_kb{-1}, main_warm_kb{-1};
  std::mutex mu;
  std::vector<double> latencies;
  std::map<std::string, int> errors;  // code/reason -> count
  std::map<std::string, int> failed_files;
  size_t ok_bytes = 0;
  std::vector<std::pair<int, long>> rss_series;  // (shares done, VmRSS kB)
  std::atomic<bool> stop{false};
  std::thread sampler;
  if (o.server_pid > 0) {
    sampler = std::thread([&] {
      while (!stop) {
        long kb = TreeKb(o.server_pid, "VmRSS");
        g_tree_peak_kb = std::max(g_tree_peak_kb.load(), kb);
        {
          std::lock_guard lock(mu);
          rss_series.push_back({done.load(), kb});
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(250));
      }
    });
  }
  const auto start = Clock::now();
  std::vector<std::thread> threads;
  for (int u = 0; u < o.uploaders; ++u) {
    threads.emplace_back([&, u] {
      auto channel = NewChannel(o.address, u);
      auto docs = v1::DocumentService::NewStub(channel);
      auto sessions = v1::SessionService::NewStub(channel);
      std::optional<Session> session;
      int in_session = 0, batch = 0;
      for (int i; (i = next++) < total;) {
        if (!session || in_session >= o.session_docs) {
          if (session) EndSession(*sessions, o, session->id);
          session = StartSession(*sessions, o,
                                 "bench-share-" + std::to_string(getpid()) + "-u" +
                                     std::to_string(u) + "-b" + std::to_string(batch++));
          in_session = 0;
        }
        ++in_session;
        const Input& in = inputs[i % inputs.size()];
        const std::string name = std::filesystem::path(in.name).filename().string();
        ShareResult r =
            Share(*docs, session->agent, session->id, name, Unique(in.bytes, i), o.chunk);
        const int d = ++done;
        if (o.warmup > 0 && d == o.warmup && o.server_pid > 0) {
          rss_warm_kb = TreeKb(o.server_pid, "VmRSS");
          main_warm_kb = ProcStatusKb(o.server_pid, "VmRSS");
        }
        std::lock_guard lock(mu);
        if (r.status.ok()) {
          latencies.push_back(r.ms);
          ok_bytes += in.bytes.size();
        } else {
          std::string key = std::to_string(r.status.error_code());
          if (!r.reject_reason.empty()) key += "/" + r.reject_reason;
          ++errors[key];
          if (++failed_files[name] == 1) {
            std::cerr << "share: " << name << ": code " << r.status.error_code() << " "
                      << r.status.error_message() << " " << r.reject_reason << "\n";
          }
        }
      }
      if (session) EndSession(*sessions, o, session->id);
    });
  }
  for (auto& t : threads) t.join();
  const double secs = Secs(Clock::now() - start);
  stop = true;
  if (sampler.joinable()) sampler.join();
  int error_count = 0;
  for (const auto& [k, n] : errors) error_count += n;
  std::printf("share: uploaders=%d shares=%d ok=%zu errors=%d seconds=%.3f\n",
              o.uploaders, total, latencies.size(), error_count, secs);
  std::printf("share: files/s=%.2f MB/s=%.2f (MB of originals)\n",
              latencies.size() / secs, ok_bytes / 1e6 / secs);
  std::printf("share: latency %s\n", LatencyLine(latencies).c_str());
  for (const auto& [k, n] : errors)
    std::printf("share: error code %s x%d\n", k.c_str(), n);
  PrintRss(o, "share");
  if (o.server_pid > 0) {
    const long end_kb = TreeKb(o.server_pid, "VmRSS");
    if (rss_warm_kb > 0) {
      std::printf(
          "share: server+workers RSS after %d warm-up shares=%.1f MB, at the end (%d "
          "shares)=%.1f MB, "
          "growth=%.1f%%\n",
          o.warmup, rss_warm_kb / 1024.0, total, end_kb / 1024.0,
          100.0 * (end_kb - rss_warm_kb) / rss_warm_kb);
      // The server process alone: the workers' RSS moves with the image each
      // one last decoded (and is sampled mid-render at the warm-up mark).
      const long main_end_kb = ProcStatusKb(o.server_pid, "VmRSS");
      std::printf(
          "share: server process RSS after %d warm-up shares=%.1f MB, "
          "at the end=%.1f MB, growth=%.1f%%\n",
          o.warmup, main_warm_kb / 1024.0, main_end_kb / 1024.0,
          100.0 * (main_end_kb - main_warm_kb) / main_warm_kb);
    }
    // Ten points of the RSS curve (shares done -> MB).
    std::string curve;
    for (size_t k = 1; k <= 10 && !rss_series.empty(); ++k) {
      const auto& [n, kb] =
          rss_series[std::min(rss_series.size() - 1, k * rss_series.size() / 10)];
      curve += " " + std::to_string(n) + ":" + std::to_string(kb / 1024);
    }
    std::printf("share: server+workers RSS curve (shares:MB)%s\n", curve.c_str());
  }
  return error_count == 0 ? 0 : 1;
}

// --- fan-out -----------------------------------------------------------------------

class WatchReactor final : public grpc::ClientReadReactor<v1::SessionEvent> {
 public:
  WatchReactor(v1::SessionService::Stub& stub, const std::string& session,
               const std::string& token, int expect, std::atomic<int>& warmed,
               std::atomic<int>& finished, std::condition_variable& cv, std::mutex& cv_mu)
      : warmed_(warmed), finished_(finished), cv_(cv), cv_mu_(cv_mu) {
    receipts_.reserve(expect + 4);
    since_append_.reserve(expect + 4);
    ctx_.AddMetadata("authorization", "Bearer " + token);
    ctx_.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(300));
    req_.set_session_id(session);
    stub.async()->WatchSession(&ctx_, &req_, this);
    StartRead(&event_);
    StartCall();
  }
  void OnReadDone(bool ok) override {
    if (!ok) return;
    const auto now = Clock::now();
    if (event_.has_document_shared()) {
      // Same host, same clock: from the server's append to the log to receipt.
      const auto wall = std::chrono::system_clock::now().time_since_epoch();
      const double append_ms =
          event_.time().seconds() * 1e3 + event_.time().nanos() / 1e6;
      since_append_.push_back(std::chrono::duration<double, std::milli>(wall).count() -
                              append_ms);
      receipts_.push_back({event_.document_shared().document().document_id(), now});
      count_.store(receipts_.size());
      if (receipts_.size() == 1) {
        ++warmed_;
        std::lock_guard lock(cv_mu_);
        cv_.notify_all();
      }
    }
    StartRead(&event_);
  }
  void OnDone(const grpc::Status& s) override {
    status_ = s;
    done_ = true;
    ++finished_;
    std::lock_guard lock(cv_mu_);
    cv_.notify_all();
  }
  void Cancel() { ctx_.TryCancel(); }

  std::vector<std::pair<std::string, Clock::time_point>> receipts_;
  std::vector<double> since_append_;  // ms from the event's `time` to receipt
  std::atomic<size_t> count_{0};
  std::atomic<bool> done_{false};
  grpc::Status status_;

 private:
  grpc::ClientContext ctx_;
  v1::WatchSessionRequest req_;
  v1::SessionEvent event_;
  std::atomic<int>& warmed_;
  std::atomic<int>& finished_;
  std::condition_variable& cv_;
  std::mutex& cv_mu_;
};

int RunFanout(const Options& o) {
  std::string doc;
  if (!o.file.empty())
    doc = ReadAll(o.file);
  else if (auto in = LoadInputs(o); !in.empty())
    doc = in.front().bytes;
  else
    Die("fanout: --file needed");
  const int total_watchers = o.sessions * o.watchers;
  const int nchannels =
      (total_watchers + o.streams_per_channel - 1) / o.streams_per_channel;
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  std::vector<std::unique_ptr<v1::SessionService::Stub>> stubs;
  for (int c = 0; c < nchannels; ++c) {
    channels.push_back(
        NewChannel(o.watch_address.empty() ? o.address : o.watch_address, 1000 + c));
    stubs.push_back(v1::SessionService::NewStub(channels.back()));
  }
  auto admin_channel = NewChannel(o.address, 999);
  auto admin = v1::SessionService::NewStub(admin_channel);
  auto docs = v1::DocumentService::NewStub(admin_channel);
  std::vector<Session> sessions;
  for (int s = 0; s < o.sessions; ++s) {
    sessions.push_back(StartSession(
        *admin, o, "bench-fanout-" + std::to_string(getpid()) + "-" + std::to_string(s)));
  }
  std::atomic<int> warmed{0}, finished{0};
  std::condition_variable cv;
  std::mutex cv_mu;
  std::vector<std::unique_ptr<WatchReactor>> watchers;
  std::vector<int> session_of;
  for (int w = 0; w < total_watchers; ++w) {
    const Session& s = sessions[w / o.watchers];
    watchers.push_back(std::make_unique<WatchReactor>(*stubs[w % nchannels], s.id,
                                                      s.consumer, o.documents + 1, warmed,
                                                      finished, cv, cv_mu));
    session_of.push_back(w / o.watchers);
  }
  auto wait_for = [&](auto pred, int seconds) {
    std::unique_lock lock(cv_mu);
    return cv.wait_for(lock, std::chrono::seconds(seconds), pred);
  };
  // Warm-up: one share per session; every watcher must receive it.
  uint64_t n = 0;
  for (const Session& s : sessions) {
    ShareResult r = Share(*docs, s.agent, s.id, "warmup.jpg", Unique(doc, n++), o.chunk);
    if (!r.status.ok()) Die("fanout: warm-up share failed: " + r.status.error_message());
  }
  if (!wait_for([&] { return warmed.load() + finished.load() >= total_watchers; }, 60) ||
      warmed.load() < total_watchers) {
    std::fprintf(stderr,
                 "fanout: only %d of %d watchers got the warm-up event (%d ended)\n",
                 warmed.load(), total_watchers, finished.load());
  }
  if (o.server_pid > 0 && o.reset_hwm) ResetHwm(o.server_pid);
  // Measured shares, round robin over sessions.
  std::map<std::string, Clock::time_point>
      completed;  // document_id -> ShareDocument returned
  int share_errors = 0;
  std::vector<double> share_ms;
  const auto start = Clock::now();
  for (int d = 0; d < o.documents; ++d) {
    for (const Session& s : sessions) {
      ShareResult r = Share(*docs, s.agent, s.id, "doc.jpg", Unique(doc, n++), o.chunk);
      const auto t = Clock::now();
      if (!r.status.ok()) {
        ++share_errors;
        std::cerr << "fanout: share failed: " << r.status.error_message() << "\n";
        continue;
      }
      completed[r.document_id] = t;
      share_ms.push_back(r.ms);
    }
    if (o.interval_ms > 0)
      std::this_thread::sleep_for(std::chrono::milliseconds(o.interval_ms));
  }
  // Wait until every watcher has every event (or 60 s), then end the sessions.
  const size_t expect = 1 + completed.size() / std::max(1, o.sessions);
  auto all_in = [&] {
    for (auto& w : watchers) {
      if (!w->done_ && w->count_ < expect) return false;
    }
    return true;
  };
  const auto wait_start = Clock::now();
  while (!all_in() && Clock::now() - wait_start < std::chrono::seconds(60)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  for (const Session& s : sessions) EndSession(*admin, o, s.id);
  if (!wait_for([&] { return finished.load() >= total_watchers; }, 20)) {
    for (auto& w : watchers) w->Cancel();
    wait_for([&] { return finished.load() >= total_watchers; }, 10);
  }
  std::vector<double> lat, from_append;
  int early = 0, missing = 0;
  Clock::time_point last = start;
  std::map<int, int> codes;
  for (auto& w : watchers) {
    ++codes[w->status_.error_code()];
    size_t got = 0;
    for (size_t e = 0; e < w->receipts_.size(); ++e) {
      const auto& [id, t] = w->receipts_[e];
      auto it = completed.find(id);
      if (it == completed.end()) continue;  // warm-up
      ++got;
      from_append.push_back(w->since_append_[e]);
      double ms = Ms(t - it->second);
      if (ms < 0) {
        ++early;
        ms = 0;
      }
      lat.push_back(ms);
      last = std::max(last, t);
    }
    missing += static_cast<int>(completed.size() / o.sessions) - static_cast<int>(got);
  }
  const double secs = Secs(last - start);
  std::printf(
      "fanout: sessions=%d watchers/session=%d channels=%d documents/session=%d "
      "interval=%dms share_errors=%d\n",
      o.sessions, o.watchers, nchannels, o.documents, o.interval_ms, share_errors);
  std::printf("fanout: document %zu bytes; ShareDocument latency %s\n", doc.size(),
              LatencyLine(share_ms).c_str());
  std::printf(
      "fanout: delivery latency from ShareDocument's return (a receipt before the "
      "return counts as 0): %s\n",
      LatencyLine(lat).c_str());
  std::printf(
      "fanout: delivery latency from the event's append to the log (its `time`): %s\n",
      LatencyLine(from_append).c_str());
  std::printf(
      "fanout: events delivered=%zu missing=%d received-before-return=%d "
      "events/s=%.0f (over %.3f s)\n",
      lat.size(), missing, early, lat.size() / secs, secs);
  for (const auto& [code, count] : codes) {
    std::printf("fanout: watcher streams ended with code %d x%d\n", code, count);
  }
  PrintRss(o, "fanout");
  return missing == 0 && share_errors == 0 ? 0 : 1;
}

// --- reject ------------------------------------------------------------------------

struct LogShare {
  std::string filename, reason;
  double bytes = 0, total_ms = 0;
};

double JsonNumber(const std::string& line, const std::string& key) {
  auto at = line.find("\"" + key + "\":");
  return at == std::string::npos
             ? -1
             : std::strtod(line.c_str() + at + key.size() + 3, nullptr);
}

std::string JsonStr(const std::string& line, const std::string& key) {
  auto at = line.find("\"" + key + "\":\"");
  if (at == std::string::npos) return "";
  at += key.size() + 4;
  return line.substr(at, line.find('"', at) - at);
}

std::vector<LogShare> ServerShares(const std::string& path, std::streamoff from,
                                   const std::string& session) {
  std::vector<LogShare> out;
  std::ifstream in(path);
  in.seekg(from);
  for (std::string line; std::getline(in, line);) {
    if (line.find("\"event\":\"share\"") == std::string::npos) continue;
    if (JsonStr(line, "session") != session) continue;
    out.push_back({JsonStr(line, "filename"), JsonStr(line, "reason"),
                   JsonNumber(line, "bytes"), JsonNumber(line, "total_ms")});
  }
  return out;
}

int RunReject(const Options& o) {
  namespace ht = docshare::testing;
  std::string pdf = "%PDF-1.4\n%\xe2\xe3\xcf\xd3\n";
  pdf.resize(30 * 1024 * 1024, 'x');
  struct Bomb {
    std::string name, bytes;
  };
  const std::vector<Bomb> bombs = {{"bomb.png", ht::PngWithDimensions(60000, 60000)},
                                   {"bomb.gif", ht::GifWithDimensions(65535, 65535)},
                                   {"bomb.jpg", ht::JpegScanBomb(150)}};
  auto channel = NewChannel(o.address, 2000);
  auto admin = v1::SessionService::NewStub(channel);
  auto docs = v1::DocumentService::NewStub(channel);
  const Session s = StartSession(*admin, o, "bench-reject-" + std::to_string(getpid()));
  std::streamoff log_from = 0;
  if (!o.server_log.empty()) {
    std::ifstream in(o.server_log, std::ios::ate);
    log_from = in.tellg();
  }
  struct Kind {
    int rejects = 0, other = 0;
    double sent = 0;
    std::vector<double> ms;
    std::map<std::string, int> reasons;
  };
  std::map<std::string, Kind> kinds;
  int rejects = 0;
  auto one = [&](const std::string& kind, const std::string& name,
                 const std::string& bytes) {
    ShareResult r = Share(*docs, s.agent, s.id, name, bytes, o.chunk);
    Kind& k = kinds[kind];
    if (r.status.error_code() == grpc::StatusCode::INVALID_ARGUMENT &&
        !r.reject_reason.empty()) {
      ++k.rejects;
      ++rejects;
      k.sent += r.bytes_sent;
      k.ms.push_back(r.ms);
      ++k.reasons[r.reject_reason];
    } else {
      ++k.other;
      std::cerr << "reject: " << name << " not rejected: code " << r.status.error_code()
                << " " << r.status.error_message() << "\n";
    }
  };
  const auto start = Clock::now();
  for (int i = 0; i < std::max(o.pdfs, o.bombs); ++i) {
    if (i < o.pdfs) one("pdf", "bench.pdf", pdf);
    if (i < o.bombs) {
      for (const Bomb& b : bombs) one(b.name, b.name, b.bytes);
    }
  }
  const double secs = Secs(Clock::now() - start);
  EndSession(*admin, o, s.id);
  std::printf(
      "reject: %d rejects in %.3f s: rejects/s=%.1f (sequential, one stream at a time)\n",
      rejects, secs, rejects / secs);
  std::map<std::string, std::vector<LogShare>> server;
  if (!o.server_log.empty()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    for (auto& l : ServerShares(o.server_log, log_from, s.id)) {
      server[l.filename == "bench.pdf" ? "pdf" : l.filename].push_back(l);
    }
  }
  for (auto& [kind, k] : kinds) {
    // A named reference: clang before 16 refuses a structured binding in a lambda.
    const std::string& kind_name = kind;
    std::string reasons;
    for (auto& [r, n] : k.reasons) reasons += " " + r + "x" + std::to_string(n);
    std::printf(
        "reject: %-8s size=%zu rejects=%d not-rejected=%d client-sent/reject=%.0f B "
        "client latency %s;%s\n",
        kind.c_str(),
        kind == "pdf" ? pdf.size()
                      : std::find_if(bombs.begin(), bombs.end(),
                                     [&](const Bomb& b) { return b.name == kind_name; })
                            ->bytes.size(),
        k.rejects, k.other, k.rejects ? k.sent / k.rejects : 0.0,
        LatencyLine(k.ms).c_str(), reasons.c_str());
    if (auto it = server.find(kind); it != server.end()) {
      std::vector<double> ms;
      double max_bytes = 0, sum_bytes = 0;
      for (auto& l : it->second) {
        ms.push_back(l.total_ms);
        max_bytes = std::max(max_bytes, l.bytes);
        sum_bytes += l.bytes;
      }
      std::printf(
          "reject: %-8s server: bytes read/reject mean=%.0f max=%.0f; server total_ms "
          "%s\n",
          kind.c_str(), sum_bytes / it->second.size(), max_bytes,
          LatencyLine(ms).c_str());
    }
  }
  return 0;
}

// --- checkfile ---------------------------------------------------------------------

int RunCheckfile(const Options& o) {
  std::string head;
  if (!o.file.empty())
    head = ReadAll(o.file).substr(0, 4096);
  else
    head = docshare::testing::SmallJpeg(64, 48).substr(0, 4096);
  auto channel = NewChannel(o.address, 3000);
  auto admin = v1::SessionService::NewStub(channel);
  auto docs = v1::DocumentService::NewStub(channel);
  const Session s = StartSession(*admin, o, "bench-check-" + std::to_string(getpid()));
  v1::CheckFileRequest request;
  request.set_head(head);
  request.set_filename("photo.jpg");
  request.set_declared_mime_type("image/jpeg");

  struct Run {
    std::atomic<long> calls{0}, errors{0};
    std::atomic<int> chains{0};
    std::mutex mu;
    std::condition_variable cv;
    std::vector<std::vector<double>> lat;
    Clock::time_point deadline;
  };
  struct Call {
    grpc::ClientContext ctx;
    v1::CheckFileResponse resp;
    Clock::time_point start;
  };
  auto run_phase = [&](double seconds, Run& run) {
    run.deadline = Clock::now() + std::chrono::microseconds(long(seconds * 1e6));
    run.lat.assign(o.callers, {});
    run.chains = o.callers;
    std::function<void(int)> issue = [&](int chain) {
      auto* call = new Call;
      call->ctx.AddMetadata("authorization", "Bearer " + s.agent);
      call->ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
      call->start = Clock::now();
      docs->async()->CheckFile(&call->ctx, &request, &call->resp,
                               [&, call, chain](grpc::Status st) {
                                 const auto now = Clock::now();
                                 if (st.ok() && call->resp.supported()) {
                                   ++run.calls;
                                   run.lat[chain].push_back(Ms(now - call->start));
                                 } else {
                                   ++run.errors;
                                 }
                                 delete call;
                                 if (now < run.deadline) {
                                   issue(chain);
                                 } else if (--run.chains == 0) {
                                   std::lock_guard lock(run.mu);
                                   run.cv.notify_all();
                                 }
                               });
    };
    const auto start = Clock::now();
    for (int c = 0; c < o.callers; ++c) issue(c);
    std::unique_lock lock(run.mu);
    run.cv.wait(lock, [&] { return run.chains.load() == 0; });
    return Secs(Clock::now() - start);
  };
  // SessionStore traffic beside the CheckFile calls, on channels of its own.
  std::atomic<bool> stop_background{false};
  std::atomic<long> background_calls{0};
  std::vector<std::thread> background;
  for (int b = 0; b < o.background_starts; ++b) {
    background.emplace_back([&, b] {
      auto stub = v1::SessionService::NewStub(NewChannel(o.address, 3100 + b));
      for (long i = 0; !stop_background; ++i) {
        const std::string id = "bench-bg-" + std::to_string(getpid()) + "-" +
                               std::to_string(b) + "-" + std::to_string(i);
        StartSession(*stub, o, id);
        EndSession(*stub, o, id);
        background_calls += 2;
      }
    });
  }
  {
    Run warm;
    run_phase(1.0, warm);
  }
  Run run;
  const long background_before = background_calls.load();
  const double secs = run_phase(o.seconds, run);
  const long background_done = background_calls.load() - background_before;
  stop_background = true;
  for (std::thread& t : background) t.join();
  std::vector<double> all;
  for (auto& v : run.lat) all.insert(all.end(), v.begin(), v.end());
  EndSession(*admin, o, s.id);
  std::printf(
      "checkfile: callers=%d on one channel, %.2f s: calls=%ld errors=%ld "
      "calls/s=%.0f\n",
      o.callers, secs, run.calls.load(), run.errors.load(), run.calls.load() / secs);
  std::printf("checkfile: latency %s\n", LatencyLine(all).c_str());
  if (o.background_starts > 0) {
    std::printf(
        "checkfile: meanwhile %d clients made %ld Start/EndSession calls (%.0f/s)\n",
        o.background_starts, background_done, background_done / secs);
  }
  return run.errors.load() == 0 ? 0 : 1;
}

// --- replay ------------------------------------------------------------------------

// A watcher that never reads: the server holds what it cannot write.
class IdleWatch final : public grpc::ClientReadReactor<v1::SessionEvent> {
 public:
  IdleWatch(v1::SessionService::Stub& stub, const std::string& session,
            const std::string& token, std::atomic<int>& finished)
      : finished_(finished) {
    ctx_.AddMetadata("authorization", "Bearer " + token);
    req_.set_session_id(session);
    stub.async()->WatchSession(&ctx_, &req_, this);
    StartCall();
  }
  void OnDone(const grpc::Status&) override { ++finished_; }
  void Cancel() { ctx_.TryCancel(); }

 private:
  grpc::ClientContext ctx_;
  v1::WatchSessionRequest req_;
  std::atomic<int>& finished_;
};

int RunReplay(const Options& o) {
  if (o.file.empty()) Die("replay: --file needed");
  const std::string doc = ReadAll(o.file);
  auto admin_channel = NewChannel(o.address, 999);
  auto admin = v1::SessionService::NewStub(admin_channel);
  auto docs = v1::DocumentService::NewStub(admin_channel);
  const Session s = StartSession(*admin, o, "bench-replay-" + std::to_string(getpid()));
  for (int d = 0; d < o.documents; ++d) {
    ShareResult r = Share(*docs, s.agent, s.id, "doc.jpg", Unique(doc, d), o.chunk);
    if (!r.status.ok()) Die("replay: share failed: " + r.status.error_message());
  }
  const int nchannels = (o.watchers + o.streams_per_channel - 1) / o.streams_per_channel;
  std::vector<std::unique_ptr<v1::SessionService::Stub>> stubs;
  for (int c = 0; c < nchannels; ++c) {
    stubs.push_back(v1::SessionService::NewStub(NewChannel(o.address, 1000 + c)));
  }
  const long before_kb = o.server_pid > 0 ? ProcStatusKb(o.server_pid, "VmRSS") : 0;
  std::atomic<long> peak_kb{before_kb};
  std::atomic<bool> sampling{true};
  std::thread sampler([&] {
    while (sampling && o.server_pid > 0) {
      peak_kb = std::max(peak_kb.load(), ProcStatusKb(o.server_pid, "VmRSS"));
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  std::atomic<int> warmed{0}, finished{0};
  std::condition_variable cv;
  std::mutex cv_mu;
  std::vector<std::unique_ptr<WatchReactor>> readers;
  std::vector<std::unique_ptr<IdleWatch>> idle;
  const auto start = Clock::now();
  for (int w = 0; w < o.watchers; ++w) {
    if (o.no_read) {
      idle.push_back(
          std::make_unique<IdleWatch>(*stubs[w % nchannels], s.id, s.consumer, finished));
    } else {
      readers.push_back(std::make_unique<WatchReactor>(*stubs[w % nchannels], s.id,
                                                       s.consumer, o.documents, warmed,
                                                       finished, cv, cv_mu));
    }
  }
  bool all_in = false;
  const auto limit = start + std::chrono::seconds(o.no_read ? 0 : 300) +
                     std::chrono::milliseconds(long(o.no_read ? o.seconds * 1e3 : 0));
  while (Clock::now() < limit) {
    if (!o.no_read) {
      all_in = std::all_of(readers.begin(), readers.end(), [&](const auto& w) {
        return w->count_ >= static_cast<size_t>(o.documents);
      });
      if (all_in) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  const double caught_up = Secs(Clock::now() - start);
  sampling = false;
  sampler.join();
  const long after_kb = o.server_pid > 0 ? ProcStatusKb(o.server_pid, "VmRSS") : 0;
  EndSession(*admin, o, s.id);
  for (auto& w : readers) w->Cancel();
  for (auto& w : idle) w->Cancel();
  const auto drain = Clock::now() + std::chrono::seconds(30);
  while (finished.load() < o.watchers && Clock::now() < drain) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::printf("replay: %d documents of %zu bytes, %d watchers from 0 on %d channels%s\n",
              o.documents, doc.size(), o.watchers, nchannels,
              o.no_read ? ", never reading" : "");
  if (!o.no_read) {
    std::printf("replay: last watcher caught up after %.3f s%s\n", caught_up,
                all_in ? "" : " (NOT all caught up: gave up)");
  }
  if (o.server_pid > 0) {
    std::printf(
        "replay: server VmRSS before=%.1f MB, highest sampled=%.1f MB (+%.1f MB), at the "
        "end=%.1f MB\n",
        before_kb / 1024.0, peak_kb / 1024.0, (peak_kb - before_kb) / 1024.0,
        after_kb / 1024.0);
  }
  return o.no_read || all_in ? 0 : 1;
}

// --- delay-proxy ---------------------------------------------------------------------

// Upstream bytes are queued with the time they arrived and written back
// --delay-ms later; client bytes go upstream at once. One connection pair
// per client, two threads each.
void ProxyConnection(int client, int to_port, std::chrono::milliseconds delay) {
  const int upstream = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(to_port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(upstream, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(client);
    close(upstream);
    return;
  }
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::pair<Clock::time_point, std::string>> late;
  bool closed = false;
  std::thread up([&] {
    char buf[65536];
    for (ssize_t n; (n = read(client, buf, sizeof buf)) > 0;) {
      if (write(upstream, buf, n) != n) break;
    }
    shutdown(upstream, SHUT_RDWR);
  });
  std::thread back([&] {
    std::unique_lock lock(mu);
    while (true) {
      cv.wait(lock, [&] { return closed || !late.empty(); });
      if (late.empty()) break;
      auto [due, bytes] = std::move(late.front());
      late.pop_front();
      lock.unlock();
      std::this_thread::sleep_until(due);
      const bool ok =
          write(client, bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size());
      lock.lock();
      if (!ok) break;
    }
    shutdown(client, SHUT_RDWR);
  });
  char buf[65536];
  for (ssize_t n; (n = read(upstream, buf, sizeof buf)) > 0;) {
    std::lock_guard lock(mu);
    late.emplace_back(Clock::now() + delay, std::string(buf, n));
    cv.notify_all();
  }
  {
    std::lock_guard lock(mu);
    closed = true;
    cv.notify_all();
  }
  back.join();
  shutdown(client, SHUT_RDWR);
  up.join();
  close(client);
  close(upstream);
}

int RunDelayProxy(const Options& o) {
  if (o.listen_port <= 0 || o.to_port <= 0) Die("delay-proxy: --listen-port, --to-port");
  const int listener = socket(AF_INET, SOCK_STREAM, 0);
  const int one = 1;
  setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(o.listen_port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      listen(listener, 64) != 0) {
    Die("delay-proxy: cannot listen on 127.0.0.1:" + std::to_string(o.listen_port));
  }
  std::fprintf(stderr, "delay-proxy: 127.0.0.1:%d -> 127.0.0.1:%d, replies %d ms late\n",
               o.listen_port, o.to_port, o.delay_ms);
  for (int client; (client = accept(listener, nullptr, nullptr)) >= 0;) {
    std::thread(ProxyConnection, client, o.to_port, std::chrono::milliseconds(o.delay_ms))
        .detach();
  }
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = Parse(argc, argv);
  if (o.mode == "reject" || o.mode == "checkfile") {
    if (VIPS_INIT(argv[0]) != 0) Die("vips_init failed");  // hostile generators
  }
  if (o.mode == "share") return RunShare(o);
  if (o.mode == "fanout") return RunFanout(o);
  if (o.mode == "reject") return RunReject(o);
  if (o.mode == "checkfile") return RunCheckfile(o);
  if (o.mode == "replay") return RunReplay(o);
  if (o.mode == "delay-proxy") return RunDelayProxy(o);
  Die("unknown --mode " + o.mode);
}
