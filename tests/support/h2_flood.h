#ifndef DOCSHARE_TESTS_SUPPORT_H2_FLOOD_H_
#define DOCSHARE_TESTS_SUPPORT_H2_FLOOD_H_

// Bounded HTTP/2 floods against a loopback server, in raw frames (no HTTP/2
// library would send them): issue 12, attack 1. Loopback only, bounded in
// time and bytes.
//   kContinuation: one HEADERS frame without END_HEADERS on stream 1, then
//     CONTINUATION frames of literal headers that never end.
//   kRapidReset: HEADERS of a full request then RST_STREAM, on stream after
//     stream (CVE-2023-44487).

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/time/time.h"

namespace docshare::testing {

enum class H2Flood { kContinuation, kRapidReset };

// Raw HTTP/2 (RFC 9113): the client preface, frame types and flags, and one
// frame with its 9-byte header.
inline constexpr std::string_view kH2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
inline constexpr uint8_t kH2Data = 0x0, kH2Headers = 0x1, kH2RstStream = 0x3,
                         kH2Settings = 0x4, kH2Continuation = 0x9;
inline constexpr uint8_t kH2EndStream = 0x1, kH2EndHeaders = 0x4;
std::string H2Frame(uint8_t type, uint8_t flags, uint32_t stream,
                    std::string_view payload);

struct H2FloodResult {
  uint64_t bytes_sent = 0;
  uint64_t frames_sent = 0;
  bool closed_by_server = false;  // the server ended the connection
  bool stalled = false;           // the server stopped reading for 2 s
};

// One connection to 127.0.0.1:`port`, flooding until `duration` passes,
// `max_bytes` are sent, or the server closes it.
H2FloodResult FloodOnce(int port, H2Flood kind, absl::Duration duration,
                        uint64_t max_bytes);

// This process' resident set (VmRSS), in bytes; 0 if unknown.
uint64_t ResidentBytes(int pid = 0);

}  // namespace docshare::testing

#endif  // DOCSHARE_TESTS_SUPPORT_H2_FLOOD_H_
