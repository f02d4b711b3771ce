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
#include <vips/vips8>

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

// One rendition, decoding the original.
size_t Rendition(const std::string& bytes, int box, bool animated) {
  const std::string load_options = animated ? "fail_on=error,n=-1" : "fail_on=error";
  // A blob over the caller's bytes (no copy), as the service does.
  VipsBlob* source = vips_blob_new(nullptr, bytes.data(), bytes.size());
  vips::VImage image = vips::VImage::thumbnail_buffer(
      source, box,
      vips::VImage::option()
          ->set("height", box)
          ->set("size", VIPS_SIZE_DOWN)
          ->set("option_string", load_options.c_str()));
  VipsBlob* blob = image.webpsave_buffer(
      vips::VImage::option()->set("Q", 80)->set("effort", 2)->set("strip", true));
  size_t length = 0;
  vips_blob_get(blob, &length);
  vips_area_unref(VIPS_AREA(blob));
  vips_area_unref(VIPS_AREA(source));  // after the save has pulled every pixel
  return length;
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 2, passes = 1, concurrency = 1;
  bool cache = false;
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
    if (a == "--threads") threads = std::stoi(next());
    else if (a == "--passes") passes = std::stoi(next());
    else if (a == "--vips-concurrency") concurrency = std::stoi(next());
    else if (a == "--vips-cache") cache = true;
    else if (a == "--files") list = next();
    else if (a.rfind("--", 0) == 0) {
      std::cerr << "usage: ref-libvips [--threads N] [--passes P] [--vips-concurrency C] "
                   "[--vips-cache] DIR|--files LIST\n";
      return 2;
    } else dir = a;
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
          const bool gif = IsGif(in.bytes);
          size_t n = Rendition(in.bytes, 1600, gif);
          n += Rendition(in.bytes, 256, false);
          out_bytes += n;
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
  std::printf("ref-libvips: threads=%d files=%zu errors=%zu seconds=%.3f\n", threads, total,
              errors.load(), secs);
  std::printf("ref-libvips: files/s=%.2f MB/s=%.2f (MB of originals) preview_bytes=%zu\n",
              (total - errors.load()) / secs, in_bytes.load() / 1e6 / secs, out_bytes.load());
  vips_shutdown();
  return errors.load() == 0 ? 0 : 1;
}
