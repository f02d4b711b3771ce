#ifndef DOCSHARE_HTTP_EXCHANGE_H_
#define DOCSHARE_HTTP_EXCHANGE_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "service/http/message.h"

namespace docshare {

// A response body written piece by piece (an SSE stream). The server calls
// every method on its event loop; the source calls `wake` (from any thread,
// never blocking) when Next has something new.
class HttpStream {
 public:
  virtual ~HttpStream() = default;
  // Once, before the first Next.
  virtual void Attach(std::function<void()> wake) = 0;
  // The next piece to write, or nullopt when none is ready. Called again
  // after each piece is written and after each wake.
  virtual std::optional<std::string> Next() = 0;
  // True once nothing more will come: the server ends the response.
  virtual bool Finished() = 0;
  // Once: the response ended (finished, client gone, server draining).
  virtual void Closed() = 0;
};

// The server's side of one request, for a route that answers later (after
// work off the loop) or streams. Any thread may call it; the server does the
// writing on its loop. Exactly one of Answer or Stream, once; an exchange
// dropped without either answers 500 (a bug, counted in the requests metric).
class HttpExchange {
 public:
  virtual ~HttpExchange() = default;
  virtual void Answer(HttpResponse response) = 0;
  // `head`: status and headers (its body is ignored), then `stream`'s pieces.
  virtual void Stream(HttpResponse head, std::shared_ptr<HttpStream> stream) = 0;
  // Reads the request body as it arrives (a route that asked for no body
  // up front: an upload), calling `on_piece` on the loop with each piece;
  // `last` marks the final one (possibly empty). Returning false stops the
  // reading: the route answers, and the rest is never read. If the client
  // goes away, `on_piece` is not called again. Any thread, at most once.
  using PieceHandler = std::function<bool(std::string_view piece, bool last)>;
  virtual void ReadBody(PieceHandler on_piece) = 0;
};

using ExchangePtr = std::shared_ptr<HttpExchange>;

}  // namespace docshare

#endif  // DOCSHARE_HTTP_EXCHANGE_H_
