#include "fake_http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>

namespace hffs::testing {

namespace {

std::string lower(std::string s) {
  for (char& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return s;
}

std::string trim(const std::string& s) {
  size_t a = s.find_first_not_of(" \t\r\n");
  if (a == std::string::npos) return {};
  size_t b = s.find_last_not_of(" \t\r\n");
  return s.substr(a, b - a + 1);
}

bool send_all(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
    if (w <= 0) return false;
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

}  // namespace

std::optional<std::string> FakeRequest::header(const std::string& name) const {
  for (auto& [k, v] : headers)
    if (k == name) return v;
  return std::nullopt;
}

std::string FakeRequest::path() const {
  size_t q = target.find('?');
  return q == std::string::npos ? target : target.substr(0, q);
}

const char* reason_phrase(int s) {
  switch (s) {
    case 200: return "OK";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 307: return "Temporary Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 410: return "Gone";
    case 416: return "Range Not Satisfiable";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Status";
  }
}

FakeHttpServer::FakeHttpServer(Handler h) : handler_(std::move(h)) {
  if (::pipe(wake_pipe_) != 0) throw std::runtime_error("pipe");
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) throw std::runtime_error("socket");
  int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    throw std::runtime_error("bind");
  socklen_t len = sizeof addr;
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  if (::listen(listen_fd_, 64) != 0) throw std::runtime_error("listen");
  acceptor_ = std::thread([this] { accept_loop(); });
}

FakeHttpServer::~FakeHttpServer() { stop(); }

void FakeHttpServer::stop() {
  if (stopping_.exchange(true)) return;
  char c = 'x';
  (void)!::write(wake_pipe_[1], &c, 1);
  if (acceptor_.joinable()) acceptor_.join();
  std::vector<std::thread> threads;
  {
    std::lock_guard lk(mu_);
    for (int fd : conn_fds_) ::shutdown(fd, SHUT_RDWR);
    threads.swap(conns_);
  }
  for (auto& t : threads) t.join();
  ::close(listen_fd_);
  ::close(wake_pipe_[0]);
  ::close(wake_pipe_[1]);
}

void FakeHttpServer::set_handler(Handler h) {
  std::lock_guard lk(mu_);
  handler_ = std::move(h);
}

std::string FakeHttpServer::base_url() const { return "http://127.0.0.1:" + std::to_string(port_); }

std::vector<FakeRequest> FakeHttpServer::requests() const {
  std::lock_guard lk(mu_);
  return log_;
}

size_t FakeHttpServer::request_count() const {
  std::lock_guard lk(mu_);
  return log_.size();
}

size_t FakeHttpServer::count_if(const std::function<bool(const FakeRequest&)>& pred) const {
  std::lock_guard lk(mu_);
  return static_cast<size_t>(std::count_if(log_.begin(), log_.end(), pred));
}

void FakeHttpServer::accept_loop() {
  while (!stopping_) {
    pollfd pfd[2] = {{listen_fd_, POLLIN, 0}, {wake_pipe_[0], POLLIN, 0}};
    if (::poll(pfd, 2, -1) < 0) continue;
    if (pfd[1].revents) return;
    if (!(pfd[0].revents & POLLIN)) continue;
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    ++accepted_;
    std::lock_guard lk(mu_);
    if (stopping_) {
      ::close(fd);
      return;
    }
    conn_fds_.push_back(fd);
    conns_.emplace_back([this, fd] { serve(fd); });
  }
}

void FakeHttpServer::serve(int fd) {
  std::string buf;
  char tmp[8192];
  // Waits until fd is readable (or the server stops). Returns false on stop/hangup.
  auto wait_readable = [&]() {
    pollfd pfd[2] = {{fd, POLLIN, 0}, {wake_pipe_[0], POLLIN, 0}};
    if (::poll(pfd, 2, -1) < 0) return false;
    if (pfd[1].revents) return false;
    return (pfd[0].revents & (POLLIN | POLLHUP | POLLERR)) != 0;
  };
  while (!stopping_) {
    size_t end;
    while ((end = buf.find("\r\n\r\n")) == std::string::npos) {
      if (!wait_readable()) goto done;
      ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
      if (n <= 0) goto done;
      buf.append(tmp, static_cast<size_t>(n));
    }
    {
      std::string head = buf.substr(0, end);
      buf.erase(0, end + 4);
      FakeRequest req;
      size_t line_end = head.find("\r\n");
      std::string first = head.substr(0, line_end);
      size_t sp1 = first.find(' '), sp2 = first.rfind(' ');
      if (sp1 == std::string::npos || sp2 == sp1) goto done;
      req.method = first.substr(0, sp1);
      req.target = first.substr(sp1 + 1, sp2 - sp1 - 1);
      size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
      while (pos < head.size()) {
        size_t e = head.find("\r\n", pos);
        if (e == std::string::npos) e = head.size();
        std::string line = head.substr(pos, e - pos);
        size_t c = line.find(':');
        if (c != std::string::npos)
          req.headers.emplace_back(lower(trim(line.substr(0, c))), trim(line.substr(c + 1)));
        pos = e + 2;
      }
      // Request bodies are not used by the client; skip any Content-Length bytes.
      if (auto cl = req.header("content-length")) {
        size_t need = std::stoul(*cl);
        while (buf.size() < need) {
          if (!wait_readable()) goto done;
          ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
          if (n <= 0) goto done;
          buf.append(tmp, static_cast<size_t>(n));
        }
        buf.erase(0, need);
      }
      Handler h;
      {
        std::lock_guard lk(mu_);
        log_.push_back(req);
        h = handler_;
      }
      FakeResponse resp = h ? h(req) : FakeResponse{404, {}, "no handler"};
      std::string out = "HTTP/1.1 " + std::to_string(resp.status) + " " + reason_phrase(resp.status) + "\r\n";
      bool has_cl = false;
      for (auto& [k, v] : resp.headers) {
        out += k + ": " + v + "\r\n";
        if (lower(k) == "content-length") has_cl = true;
      }
      if (!has_cl) out += "Content-Length: " + std::to_string(resp.body.size()) + "\r\n";
      if (resp.close_connection) out += "Connection: close\r\n";
      out += "\r\n";
      if (!send_all(fd, out.data(), out.size())) goto done;
      if (req.method == "HEAD") {
        if (resp.close_connection) goto done;
        continue;
      }
      if (resp.stall) {
        size_t n = std::min(resp.stall_after, resp.body.size());
        if (!send_all(fd, resp.body.data(), n)) goto done;
        // Hang: wait for the client to go away (or the server to stop). Anything the client
        // sends is ignored.
        while (wait_readable()) {
          if (::recv(fd, tmp, sizeof tmp, 0) <= 0) break;
        }
        goto done;
      }
      if (resp.close_after) {
        size_t n = std::min(*resp.close_after, resp.body.size());
        send_all(fd, resp.body.data(), n);
        goto done;
      }
      if (!send_all(fd, resp.body.data(), resp.body.size())) goto done;
      if (resp.close_connection) goto done;
    }
  }
done:
  {
    // Unlist before closing so stop() never shuts down a reused descriptor number.
    std::lock_guard lk(mu_);
    conn_fds_.erase(std::remove(conn_fds_.begin(), conn_fds_.end(), fd), conn_fds_.end());
  }
  ::shutdown(fd, SHUT_RDWR);
  ::close(fd);
}

void clear_proxy_env() {
  for (const char* v : {"http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"})
    ::unsetenv(v);
}

}  // namespace hffs::testing
