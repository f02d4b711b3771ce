// ref-libvips: the service's two renditions done by libvips alone, NAIVE:
// each rendition decodes the original again.
//
//   ref-libvips [--threads N] [--passes P] [--vips-concurrency C] DIR|--files LIST
//
// Per file: thumbnail_buffer(bytes, 1600, size=down, fail_on=error) -> webpsave
// Q80 effort 2 strip, then thumbnail_buffer(bytes, 256, ...) -> webpsave, same
// settings. A GIF's display keeps its animation (n=-1), its thumbnail is the
// first frame, as in the service. Like the server: libvips operation cache off
// and vips_concurrency 1 (the N threads are the parallelism); both flags can
// change that. Prints files/s and MB/s (MB of originals, 10^6 bytes).
//
// --service renders with the service's own renderer instead (VipsRenderer,
// in this process: decode once, thumbnail from the display), so the gap
// between the service and the naive loop splits into the render itself and
// what gRPC, sessions and isolation add. --per-file prints each file's
// CPU time (ms, mean over the passes; the process's, as libvips works in its
// own threads: use it with --threads 1), to see where the two differ.
//
// --stages (with --threads 1) times the naive pair's four steps apart: each
// rendition's decode and resize into memory, then its encode. It prints the
// ceiling of any renderer that decodes once: the naive total over the total
// without the thumbnail's own decode and resize, as both encodes and the
// display's decode remain whatever the renderer does.
//
// --keep-heap BYTES sets the heap up as a render worker does with
// --render-heap-keep-bytes (an arena per thread, docshare::KeepHeap), and adds
// "+kept-heap" to the printed name: the naive loop given the same allocator
// settings as the service's workers.
#include <malloc.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>
#include <vips/vips8>

#include "service/pipeline/guard.h"
#include "service/pipeline/render.h"
#include "service/pipeline/render_worker.h"
#include "service/pipeline/sniff.h"
#include "service/pipeline/vips_boundary.h"

namespace {

struct Input {
  std::string name;
  std::string bytes;
};

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::vector<Input> LoadInputs(const std::string& dir, const std::string& list) {
  std::vector<std::string> paths;
  if (!list.empty()) {
    std::ifstream in(list);
    for (std::string line; std::getline(in, line);) {
      if (!line.empty()) paths.push_back(line);
    }
  } else {
    for (const auto& e : std::filesystem::directory_iterator(dir)) {
      if (e.is_regular_file()) paths.push_back(e.path().string());
    }
  }
  std::sort(paths.begin(), paths.end());
  std::vector<Input> out;
  for (const auto& p : paths) out.push_back({p, ReadAll(p)});
  return out;
}

bool IsGif(const std::string& b) { return b.compare(0, 4, "GIF8") == 0; }

// The original resized into a box x box square: the naive loop's decode of it.
vips::VImage Resized(VipsBlob* source, int box, bool animated) {
  const std::string load_options = animated ? "fail_on=error,n=-1" : "fail_on=error";
  return vips::VImage::thumbnail_buffer(source, box,
                                        vips::VImage::option()
                                            ->set("height", box)
                                            ->set("size", VIPS_SIZE_DOWN)
                                            ->set("option_string", load_options.c_str()));
}

size_t EncodeWebp(const vips::VImage& image) {
  VipsBlob* blob = image.webpsave_buffer(
      vips::VImage::option()->set("Q", 80)->set("effort", 2)->set("strip", true));
  size_t length = 0;
  vips_blob_get(blob, &length);
  vips_area_unref(VIPS_AREA(blob));
  return length;
}

// One rendition, decoding the original.
size_t Rendition(const std::string& bytes, int box, bool animated) {
  const docshare::BlobPtr source = docshare::BlobOver(bytes);  // as the service does
  return EncodeWebp(Resized(source.get(), box, animated));
}

double ProcessCpuMs() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

// --stages: the naive pair in its four steps, each timed alone (process CPU,
// so --threads 1): a rendition's decode and resize into memory, then its
// encode from there.
struct StageMs {
  double display_resize = 0, display_encode = 0, thumbnail_resize = 0,
         thumbnail_encode = 0;
  double total() const {
    return display_resize + display_encode + thumbnail_resize + thumbnail_encode;
  }
};

// Adds to `total` only when both renditions were made.
size_t Staged(const std::string& bytes, StageMs& total) {
  StageMs ms;
  size_t out = 0;
  for (const bool display : {true, false}) {
    const double start = ProcessCpuMs();
    vips::VImage resized;
    {
      const docshare::BlobPtr source = docshare::BlobOver(bytes);
      resized = Resized(source.get(), display ? 1600 : 256, display && IsGif(bytes))
                    .copy_memory();
    }
    const double resized_at = ProcessCpuMs();
    out += EncodeWebp(resized);
    const double encoded_at = ProcessCpuMs();
    (display ? ms.display_resize : ms.thumbnail_resize) += resized_at - start;
    (display ? ms.display_encode : ms.thumbnail_encode) += encoded_at - resized_at;
  }
  total.display_resize += ms.display_resize;
  total.display_encode += ms.display_encode;
  total.thumbnail_resize += ms.thumbnail_resize;
  total.thumbnail_encode += ms.thumbnail_encode;
  return out;
}

// The naive pair, or the service's renderer; returns the previews' bytes.
size_t RenderOne(const std::string& bytes, docshare::Renderer* service) {
  if (service == nullptr) {
    return Rendition(bytes, 1600, IsGif(bytes)) + Rendition(bytes, 256, false);
  }
  absl::StatusOr<docshare::SniffResult> sniffed =
      docshare::Sniff(std::string_view(bytes).substr(0, 4096));
  if (!sniffed.ok()) throw vips::VError(std::string(sniffed.status().message()));
  absl::StatusOr<docshare::ImageHeader> header =
      docshare::Guard(bytes, sniffed->type, docshare::Limits{});
  if (!header.ok()) throw vips::VError(std::string(header.status().message()));
  absl::StatusOr<docshare::Renditions> r = service->Render(bytes, *header);
  if (!r.ok()) throw vips::VError(std::string(r.status().message()));
  return r->display.data->size() + r->thumbnail.data->size();
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 2, passes = 1, concurrency = 1;
  bool cache = false, use_service = false, per_file = false, stages = false;
  uint64_t keep_heap = 0;
  std::string dir, list;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::cerr << a << " needs a value\n";
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--threads")
      threads = std::stoi(next());
    else if (a == "--passes")
      passes = std::stoi(next());
    else if (a == "--vips-concurrency")
      concurrency = std::stoi(next());
    else if (a == "--vips-cache")
      cache = true;
    else if (a == "--service")
      use_service = true;
    else if (a == "--per-file")
      per_file = true;
    else if (a == "--stages")
      stages = true;
    else if (a == "--keep-heap")
      keep_heap = std::stoull(next());
    else if (a == "--files")
      list = next();
    else if (a.rfind("--", 0) == 0) {
      std::cerr
          << "usage: ref-libvips [--threads N] [--passes P] [--vips-concurrency C] "
             "[--vips-cache] [--service] [--per-file] [--stages] [--keep-heap BYTES] "
             "DIR|--files LIST\n";
      return 2;
    } else
      dir = a;
  }
  if (stages && (threads != 1 || use_service)) {
    std::cerr << "--stages times the naive loop's steps on one thread: --threads 1, "
                 "without --service\n";
    return 2;
  }
  if (keep_heap != 0) {
    // As the render workers do (render_worker.cc): one arena each, then
    // KeepHeap. Each worker is a process of its own; here the threads stand
    // for the workers, so one arena per thread, not one for all of them.
    mallopt(M_ARENA_MAX, threads);
    if (absl::Status s = docshare::KeepHeap(keep_heap); !s.ok()) {
      std::cerr << "--keep-heap: " << s << "\n";
      return 2;
    }
  }
  if (VIPS_INIT(argv[0]) != 0) {
    std::cerr << "vips_init failed\n";
    return 1;
  }
  vips_concurrency_set(concurrency);
  if (!cache) {
    vips_cache_set_max(0);
    vips_cache_set_max_mem(0);
  }
  const std::vector<Input> inputs = LoadInputs(dir, list);
  if (inputs.empty()) {
    std::cerr << "no input files\n";
    return 2;
  }
  // Settings as the service's defaults (RenderOptions).
  docshare::VipsRenderer service_renderer{docshare::RenderOptions{}};
  docshare::Renderer* service = use_service ? &service_renderer : nullptr;
  std::vector<std::atomic<double>> cpu_ms(inputs.size());
  StageMs stage_ms;  // --stages: one thread only
  const size_t total = inputs.size() * static_cast<size_t>(passes);
  std::atomic<size_t> next{0};
  std::atomic<size_t> errors{0}, out_bytes{0}, in_bytes{0};
  std::mutex err_mu;
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      for (size_t i; (i = next++) < total;) {
        const Input& in = inputs[i % inputs.size()];
        try {
          const double cpu_start = ProcessCpuMs();
          out_bytes += stages ? Staged(in.bytes, stage_ms) : RenderOne(in.bytes, service);
          cpu_ms[i % inputs.size()] += ProcessCpuMs() - cpu_start;
          in_bytes += in.bytes.size();
        } catch (const vips::VError& e) {
          ++errors;
          std::lock_guard lock(err_mu);
          std::cerr << "ref-libvips: " << in.name << ": " << e.what() << "\n";
        }
        vips_error_clear();
      }
      vips_thread_shutdown();
    });
  }
  for (auto& t : pool) t.join();
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const std::string label = std::string(use_service ? "service-render" : "ref-libvips") +
                            (keep_heap != 0 ? "+kept-heap" : "");
  const char* what = label.c_str();
  if (per_file && threads == 1) {
    for (size_t i = 0; i < inputs.size(); ++i) {
      std::printf("%s: cpu_ms=%.1f %s\n", what, cpu_ms[i].load() / passes,
                  std::filesystem::path(inputs[i].name).filename().c_str());
    }
  }
  if (threads == 1) {  // with more, each file's span counts the others' CPU too
    double cpu_total = 0;
    for (const auto& ms : cpu_ms) cpu_total += ms.load();
    std::printf("%s: cpu_ms_per_file=%.1f\n", what, cpu_total / total);
  }
  if (stages) {
    const size_t done = total - errors.load();
    const auto per = [&](double ms) { return done == 0 ? 0.0 : ms / done; };
    std::printf(
        "%s stages: cpu_ms per file: display_resize=%.1f display_encode=%.1f "
        "thumbnail_resize=%.1f thumbnail_encode=%.1f total=%.1f\n",
        what, per(stage_ms.display_resize), per(stage_ms.display_encode),
        per(stage_ms.thumbnail_resize), per(stage_ms.thumbnail_encode),
        per(stage_ms.total()));
    // A renderer that decodes once and gets its thumbnail's pixels for free
    // still pays the display's decode and resize and both encodes.
    std::printf(
        "%s stages: decode-once ceiling = total / (total - thumbnail_resize) = %.2fx\n",
        what, stage_ms.total() / (stage_ms.total() - stage_ms.thumbnail_resize));
  }
  std::printf("%s: threads=%d files=%zu errors=%zu seconds=%.3f\n", what, threads, total,
              errors.load(), secs);
  std::printf("%s: files/s=%.2f MB/s=%.2f (MB of originals) preview_bytes=%zu\n", what,
              (total - errors.load()) / secs, in_bytes.load() / 1e6 / secs,
              out_bytes.load());
  vips_shutdown();
  return errors.load() == 0 ? 0 : 1;
}
