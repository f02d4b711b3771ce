#ifndef DOCSHARE_METRICS_PROCESS_COLLECTOR_H_
#define DOCSHARE_METRICS_PROCESS_COLLECTOR_H_

// The standard process_* metrics of the Prometheus client libraries (same
// names, types and meaning as client_golang's process collector), read from
// procfs at every scrape. prometheus-cpp has no such collector.

#include <string>
#include <vector>

#include "prometheus/collectable.h"
#include "prometheus/metric_family.h"

namespace docshare {

class ProcessCollector final : public prometheus::Collectable {
 public:
  // `proc` is the procfs mount; tests point it at a fake tree.
  explicit ProcessCollector(std::string proc = "/proc");

  // process_cpu_seconds_total, process_open_fds, process_max_fds,
  // process_virtual_memory_bytes, process_resident_memory_bytes,
  // process_start_time_seconds. A value that cannot be read is left out of
  // the scrape rather than reported as a wrong number.
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  std::string proc_;
  long ticks_per_second_;
  long page_size_;
};

}  // namespace docshare

#endif  // DOCSHARE_METRICS_PROCESS_COLLECTOR_H_
