// TokenService::Verify and Authenticate on arbitrary input. Forged bytes
// rarely get past the MAC, so one mode signs the fuzzer's payload with the
// service's secret to reach the payload parser, and checks that whatever
// verifies is exactly what Mint produces for the same claims.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "service/auth/tokens.h"
#include "service/common/clock.h"

namespace {

constexpr std::string_view kSecret = "fuzz-secret-0123456789abcdef";
constexpr std::string_view kAdminToken = "fuzz-admin-token";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const docshare::FakeClock clock;
  static const docshare::TokenService tokens(std::string(kSecret), clock);
  if (size == 0) return 0;
  const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 3) {
    case 0:
      (void)tokens.Verify(input);
      break;
    case 1:
      (void)docshare::Authenticate(input, kAdminToken, tokens);
      break;
    case 2: {
      const std::string token = tokens.SignPayload(input);
      const absl::StatusOr<docshare::Claims> claims = tokens.Verify(token);
      if (claims.ok() && tokens.Mint(*claims) != token) {
        std::fprintf(stderr, "a verified token is not what Mint makes of its claims\n");
        std::abort();
      }
      break;
    }
  }
  return 0;
}
