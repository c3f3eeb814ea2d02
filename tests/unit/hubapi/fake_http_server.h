// A minimal threaded loopback HTTP/1.1 server for HubClient tests: scripted responses (a handler
// function), fault injection (mid-body close, stall) and a request log. Keep-alive supported.
#pragma once
#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace hffs::testing {

struct FakeRequest {
  std::string method;
  std::string target;  // path + query, as sent
  std::vector<std::pair<std::string, std::string>> headers;  // names lowercased
  // Value of header `name` (lowercase) or nullopt.
  std::optional<std::string> header(const std::string& name) const;
  std::string path() const;  // target without query
};

struct FakeResponse {
  FakeResponse(int st = 200, std::vector<std::pair<std::string, std::string>> h = {},
               std::string b = {})
      : status(st), headers(std::move(h)), body(std::move(b)) {}
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // Faults:
  std::optional<size_t> close_after;  // send Content-Length of the full body, then only this many
                                      // body bytes, then close the connection
  bool stall = false;                 // send headers + `stall_after` body bytes, then hang until
  size_t stall_after = 0;             // the client goes away or the server stops
  bool close_connection = false;      // "Connection: close" after this response
  FakeResponse& header(std::string k, std::string v) {
    headers.emplace_back(std::move(k), std::move(v));
    return *this;
  }
};

class FakeHttpServer {
 public:
  using Handler = std::function<FakeResponse(const FakeRequest&)>;
  explicit FakeHttpServer(Handler h = nullptr);
  ~FakeHttpServer();
  FakeHttpServer(const FakeHttpServer&) = delete;
  FakeHttpServer& operator=(const FakeHttpServer&) = delete;

  void set_handler(Handler h);
  int port() const { return port_; }
  std::string base_url() const;  // http://127.0.0.1:<port>
  std::vector<FakeRequest> requests() const;
  size_t request_count() const;
  size_t count_if(const std::function<bool(const FakeRequest&)>& pred) const;
  size_t connections_accepted() const { return accepted_.load(); }
  void stop();

 private:
  void accept_loop();
  void serve(int fd);

  Handler handler_;
  mutable std::mutex mu_;
  std::vector<FakeRequest> log_;
  std::vector<std::thread> conns_;
  std::vector<int> conn_fds_;
  std::thread acceptor_;
  int listen_fd_ = -1;
  int wake_pipe_[2] = {-1, -1};
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<size_t> accepted_{0};
};

// Tests talk to loopback servers: a proxy from the environment must not take their requests.
void clear_proxy_env();

// Status reason phrase for the status line.
const char* reason_phrase(int status);

}  // namespace hffs::testing
