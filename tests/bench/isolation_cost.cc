// What the process boundary costs: one 12 MP JPEG rendered N times in this
// process (VipsRenderer) and in a worker process (IsolatedRenderer), one
// thread, plus the bare transfer of its bytes over a socket pair and through
// a memfd. Not a test: numbers depend on the machine and its load.
//   cmake --build <build> --target bench-isolation && <build>/bench-isolation [N]
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>
#include <thread>
#include <vector>
#include <vips/vips8>

#include "absl/time/clock.h"
#include "service/common/observer.h"
#include "service/pipeline/guard.h"
#include "service/pipeline/isolated_renderer.h"
#include "service/pipeline/render.h"
#include "service/pipeline/render_wire.h"
#include "service/pipeline/vips_boundary.h"
#include "tests/support/files.h"

namespace docshare {
namespace {

std::string TwelveMegapixelJpeg() {
  // InitVips leaves only the buffer loaders unblocked.
  std::ifstream file(testing::CorpusPath("sharp/2569067123_aca715a2ee_o.jpg"),
                     std::ios::binary);
  const std::string original((std::istreambuf_iterator<char>(file)), {});
  vips::VImage source = vips::VImage::new_from_buffer(original, "");
  vips::VImage big =
      source.resize(4000.0 / source.width(),
                    vips::VImage::option()->set("vscale", 3000.0 / source.height()));
  VipsBlob* blob = big.jpegsave_buffer(vips::VImage::option()->set("Q", 90));
  size_t size = 0;
  const void* data = vips_blob_get(blob, &size);
  std::string bytes(static_cast<const char*>(data), size);
  vips_area_unref(VIPS_AREA(blob));
  return bytes;
}

struct Timing {
  double mean_ms, min_ms, max_ms;
};

Timing Measure(int n, const std::function<void()>& fn) {
  fn();  // warm up
  std::vector<double> ms;
  for (int i = 0; i < n; ++i) {
    const absl::Time start = absl::Now();
    fn();
    ms.push_back(absl::ToDoubleMilliseconds(absl::Now() - start));
  }
  double sum = 0;
  for (double m : ms) sum += m;
  return {sum / n, *std::min_element(ms.begin(), ms.end()),
          *std::max_element(ms.begin(), ms.end())};
}

void Print(const char* what, Timing t) {
  std::printf("%-44s mean %8.2f ms  min %8.2f  max %8.2f\n", what, t.mean_ms, t.min_ms,
              t.max_ms);
}

void Check(const absl::StatusOr<Renditions>& r) {
  if (!r.ok()) {
    std::fprintf(stderr, "render failed: %s\n", r.status().ToString().c_str());
    std::exit(1);
  }
}

}  // namespace
}  // namespace docshare

int main(int argc, char** argv) {
  using namespace docshare;
  const int n = argc > 1 ? std::atoi(argv[1]) : 10;
  if (!InitVips(argv[0]).ok()) return 1;
  const std::string jpeg = TwelveMegapixelJpeg();
  absl::StatusOr<ImageHeader> header = Guard(jpeg, FileType::kJpeg, Limits{});
  if (!header.ok()) return 1;
  std::printf("12 MP JPEG: %dx%d, %zu bytes; %d renders each, one thread\n",
              header->width, header->height, jpeg.size(), n);

  VipsRenderer in_process(RenderOptions{});
  NullObserver observer;
  IsolatedRenderer isolated(
      RenderOptions{},
      IsolationOptions{.worker_path = DOCSHARE_RENDER_WORKER, .workers = 1}, observer);
  const Timing a = Measure(n, [&] { Check(in_process.Render(jpeg, *header)); });
  const Timing b = Measure(n, [&] { Check(isolated.Render(jpeg, *header)); });
  Print("in-process (VipsRenderer)", a);
  Print("worker process (IsolatedRenderer)", b);
  std::printf("%-44s %+8.2f ms per render (%+.1f%%)\n", "process boundary",
              b.mean_ms - a.mean_ms, 100.0 * (b.mean_ms - a.mean_ms) / a.mean_ms);

  // The transfer alone: the bytes over a socket pair to a reading thread
  // (what IsolatedRenderer does), and written to a memfd then read through
  // a mapping (the alternative).
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0) return 1;
  const std::string head = EncodeRequestHead(*header, jpeg.size());
  Print("transfer: socketpair, framed", Measure(n, [&] {
          std::thread reader([&] {
            (void)ReadFrame(fds[1], absl::InfiniteFuture(), kMaxRequestFrameBytes);
          });
          (void)WriteParts(fds[0], {head, jpeg}, absl::InfiniteFuture());
          reader.join();
        }));
  Print("transfer: memfd write + mmap read", Measure(n, [&] {
          const int fd = memfd_create("image", MFD_CLOEXEC);
          if (write(fd, jpeg.data(), jpeg.size()) != static_cast<ssize_t>(jpeg.size()))
            std::exit(1);
          void* map = mmap(nullptr, jpeg.size(), PROT_READ, MAP_SHARED, fd, 0);
          volatile char sum = 0;
          for (size_t i = 0; i < jpeg.size(); i += 4096)
            sum += static_cast<const char*>(map)[i];
          munmap(map, jpeg.size());
          close(fd);
        }));
  return 0;
}
