#include "tests/integration/harness.h"

#include "absl/strings/str_cat.h"
#include "service/pipeline/vips_boundary.h"

namespace docshare::testing {

std::multimap<std::string, std::string> Trailers(const grpc::ClientContext& context) {
  std::multimap<std::string, std::string> out;
  for (const auto& [k, v] : context.GetServerTrailingMetadata()) {
    out.emplace(std::string(k.data(), k.size()), std::string(v.data(), v.size()));
  }
  return out;
}

google::rpc::ErrorInfo ErrorInfoOf(const grpc::Status& status) {
  google::rpc::ErrorInfo info;
  google::rpc::Status details;
  EXPECT_TRUE(details.ParseFromString(status.error_details()))
      << "grpc-status-details-bin is not a google.rpc.Status";
  EXPECT_EQ(details.code(), static_cast<int>(status.error_code()));
  EXPECT_EQ(details.message(), status.error_message());
  EXPECT_EQ(details.details_size(), 1);
  if (details.details_size() > 0) {
    EXPECT_TRUE(details.details(0).UnpackTo(&info)) << details.details(0).type_url();
  }
  EXPECT_EQ(info.domain(), "docshare.v1");
  return info;
}

namespace {

void Authorize(grpc::ClientContext& ctx, const std::string& token) {
  if (!token.empty()) ctx.AddMetadata("authorization", "Bearer " + token);
}

}  // namespace

void ServerTest::SetUp() {
  ASSERT_TRUE(InitVips("integration_tests").ok());
  config_.grpc_address = "127.0.0.1:0";
  config_.http_address = "127.0.0.1:0";
  config_.admin_token = kAdminToken;
  config_.token_secret = "integration-secret-0123456789abcdef";
  config_.isolation.workers = 2;
  // One test token shares and checks many files in a row: the per-token rates
  // and the per-session render share are tested where they are set
  // (attack_memory_test.cc, render_pool_fairness_test.cc).
  config_.token_share_rate = 0;
  config_.token_check_file_rate = 0;
  config_.max_session_renders = 0;
  Configure(config_);
  ASSERT_TRUE(config_.Validate().ok()) << config_.Validate();
  app_ = std::make_unique<App>(config_, clock_, AppObserver(), log_);
  ASSERT_TRUE(app_->Start().ok());
  channel_ = NewChannel();
  sessions_ = v1::SessionService::NewStub(channel_);
  documents_ = v1::DocumentService::NewStub(channel_);
}

void ServerTest::TearDown() {
  if (app_) app_->Drain(absl::Seconds(5));
  app_.reset();
}

std::shared_ptr<grpc::Channel> ServerTest::NewChannel(bool no_bdp) const {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  // A separate channel per call site when asked, so one stalled stream's
  // flow control cannot hold up another's.
  args.SetInt("docshare.test.channel", rand());
  if (no_bdp) args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  return grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", app_->grpc_port()),
                                   grpc::InsecureChannelCredentials(), args);
}

v1::StartSessionResponse ServerTest::StartSession(const std::string& id, uint32_t ttl,
                                                  bool consumer_may_share) {
  v1::StartSessionRequest req;
  req.set_session_id(id);
  req.set_ttl_seconds(ttl);
  req.set_consumer_may_share(consumer_may_share);
  v1::StartSessionResponse resp;
  grpc::Status s = TryStartSession(kAdminToken, req, &resp);
  EXPECT_TRUE(s.ok()) << s.error_message();
  return resp;
}

grpc::Status ServerTest::TryStartSession(const std::string& token,
                                         const v1::StartSessionRequest& req,
                                         v1::StartSessionResponse* resp) {
  grpc::ClientContext ctx;
  Authorize(ctx, token);
  return sessions_->StartSession(&ctx, req, resp);
}

grpc::Status ServerTest::EndSession(const std::string& token, const std::string& id,
                                    v1::EndSessionResponse* resp) {
  grpc::ClientContext ctx;
  Authorize(ctx, token);
  v1::EndSessionRequest req;
  req.set_session_id(id);
  v1::EndSessionResponse ignored;
  return sessions_->EndSession(&ctx, req, resp ? resp : &ignored);
}

ShareResult ServerTest::Share(const std::string& token, const std::string& session_id,
                              const std::string& bytes, const ShareOptions& options) {
  ShareResult result;
  grpc::ClientContext ctx;
  Authorize(ctx, token);
  auto writer = documents_->ShareDocument(&ctx, &result.response);
  v1::ShareDocumentRequest msg;
  bool open = true;
  if (options.send_header) {
    auto* h = msg.mutable_header();
    h->set_session_id(session_id);
    h->set_filename(options.filename);
    h->set_declared_mime_type(options.declared_mime);
    h->set_size_bytes(options.unknown_size ? 0
                      : options.size_bytes ? options.size_bytes
                                           : bytes.size());
    open = writer->Write(msg);
  }
  for (size_t off = 0; open && off < bytes.size(); off += options.chunk_bytes) {
    msg.set_chunk(bytes.substr(off, options.chunk_bytes));
    open = writer->Write(msg);
  }
  if (open) writer->WritesDone();
  result.status = writer->Finish();
  result.trailers = Trailers(ctx);
  return result;
}

std::unique_ptr<ServerTest::OpenUpload> ServerTest::BeginUpload(
    const std::string& token, const std::string& session_id, uint64_t size_bytes,
    const std::string& first_chunk) {
  auto upload = std::make_unique<OpenUpload>();
  Authorize(upload->ctx, token);
  upload->writer = documents_->ShareDocument(&upload->ctx, &upload->response);
  v1::ShareDocumentRequest msg;
  msg.mutable_header()->set_session_id(session_id);
  msg.mutable_header()->set_filename("held.jpg");
  msg.mutable_header()->set_size_bytes(size_bytes);
  upload->open = upload->writer->Write(msg);
  if (upload->open && !first_chunk.empty()) {
    msg.set_chunk(first_chunk);
    upload->open = upload->writer->Write(msg);
  }
  return upload;
}

grpc::Status ServerTest::Check(const std::string& token, const std::string& head,
                               v1::CheckFileResponse* resp) {
  grpc::ClientContext ctx;
  Authorize(ctx, token);
  v1::CheckFileRequest req;
  req.set_head(head);
  return documents_->CheckFile(&ctx, req, resp);
}

grpc::Status ServerTest::WatchAll(const std::string& token, const std::string& id,
                                  uint64_t after, std::vector<v1::SessionEvent>* events,
                                  std::multimap<std::string, std::string>* trailers) {
  grpc::ClientContext ctx;
  Authorize(ctx, token);
  v1::WatchSessionRequest req;
  req.set_session_id(id);
  req.set_after_sequence(after);
  auto reader = sessions_->WatchSession(&ctx, req);
  v1::SessionEvent event;
  while (reader->Read(&event)) events->push_back(event);
  grpc::Status s = reader->Finish();
  if (trailers) *trailers = Trailers(ctx);
  return s;
}

std::vector<v1::SessionEvent> ServerTest::ReadEvents(const std::string& token,
                                                     const std::string& id,
                                                     uint64_t after, size_t n) {
  grpc::ClientContext ctx;
  Authorize(ctx, token);
  v1::WatchSessionRequest req;
  req.set_session_id(id);
  req.set_after_sequence(after);
  auto reader = sessions_->WatchSession(&ctx, req);
  std::vector<v1::SessionEvent> events;
  v1::SessionEvent event;
  while (events.size() < n && reader->Read(&event)) events.push_back(event);
  ctx.TryCancel();
  reader->Finish();
  return events;
}

}  // namespace docshare::testing
