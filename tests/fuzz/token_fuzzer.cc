// TokenService::Verify and Authenticate on arbitrary input. Forged bytes
// rarely get past the MAC, so one mode signs the fuzzer's payload with the
// service's secret to reach the payload parser, and checks that whatever
// verifies is exactly what Mint produces for the same claims.

#include <openssl/evp.h>
#include <openssl/hmac.h>

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

std::string Base64Url(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()),
                                static_cast<int>(bytes.size()));
  out.resize(n);
  while (!out.empty() && out.back() == '=') out.pop_back();
  for (char& c : out) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  return out;
}

// "v1." base64url(payload) "." base64url(HMAC-SHA256(secret, signed part)).
std::string Sign(std::string_view payload) {
  std::string token = "v1." + Base64Url(payload);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), kSecret.data(), static_cast<int>(kSecret.size()),
       reinterpret_cast<const unsigned char*>(token.data()), token.size(), mac, &len);
  return token + "." + Base64Url(std::string_view(reinterpret_cast<char*>(mac), len));
}

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
      const std::string token = Sign(input);
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
