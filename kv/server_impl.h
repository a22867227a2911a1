// Internals of the server shared by server.cc (loop, sockets, durability) and
// gateway.cc (the etcd API on top). Not part of the library's interface.
#pragma once

#include <deque>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/fd.h"
#include "kv/http.h"
#include "kv/json.h"
#include "kv/server.h"
#include "kv/store.h"
#include "kv/wal.h"

namespace gantry::kv {

struct Watcher {
    int64_t id = 0;
    std::string key;
    std::string range_end;
    bool prev_kv = false;
    bool no_put = false;
    bool no_delete = false;
    bool progress_notify = false;
    int64_t next_rev = 0;  // the first revision not yet sent
};

struct Conn {
    Fd fd;
    std::string in;
    std::string out;
    // Responses waiting until the WAL sequence they depend on is durable; in order.
    std::deque<std::pair<uint64_t, std::string>> pending;
    bool want_write = false;
    bool closing = false;  // close once `out` is written

    // The request being read.
    bool have_head = false;
    http::Request req;
    std::string body;
    bool chunk_done = false;
    // Streams (/v3/watch, /v3/lease/keepalive): the response never ends; messages are
    // HTTP chunks, each a JSON object and a newline.
    enum class Stream { kNone, kWatch, kKeepAlive } stream = Stream::kNone;
    size_t stream_body_left = 0;
    std::string stream_buf;
    std::map<int64_t, Watcher> watches;
    int64_t next_watch_id = 0;
};

class ServerImpl : public StoreListener {
  public:
    explicit ServerImpl(const ServerOptions& o) : opts_(o) {
        id_.cluster_id = o.cluster_id;
        id_.member_id = o.member_id;
        id_.raft_term = 1;
    }
    Status init();
    Status run();
    std::vector<int> ports_;

    // StoreListener: forwards to the WAL and remembers commits for watchers.
    void on_commit(const Commit& c) override;
    void on_lease_grant(int64_t id, int64_t ttl) override;
    void on_lease_revoke(int64_t id) override;
    void on_compact(int64_t rev) override;

  private:
    // server.cc
    Status listen_tcp(const std::string& addr);
    Status listen_unix(const std::string& path);
    void accept_all(int lfd);
    void handle_events(const struct epoll_event* events, int n);
    void on_readable(Conn& c);
    void process(Conn& c);
    void flush(Conn& c);
    void update_interest(Conn& c);
    void close_conn(int fd);
    void on_durable();
    void on_timers();
    uint64_t barrier() const { return wal_ ? wal_->last_seq() : 0; }
    uint64_t durable() const { return wal_ ? wal_->durable_seq() : 0; }
    // Queues bytes that depend on WAL sequence `seq`.
    void send(Conn& c, std::string bytes, uint64_t seq);
    void send_response(Conn& c, int status, std::string_view body, uint64_t seq,
                       const char* type = "application/json");
    void send_chunk(Conn& c, std::string_view msg, uint64_t seq);

    // gateway.cc
    void handle_unary(Conn& c, const std::string& path, const std::string& body);
    void start_stream(Conn& c);
    void handle_stream_message(Conn& c, std::string_view msg);
    void watch_create(Conn& c, const json::Json& j);
    void watch_cancel(Conn& c, const json::Json& j);
    void dispatch(const Commit& commit);
    void progress_tick();
    std::string watch_result(const Watcher* w, int64_t rev, const std::vector<Event>* events,
                             std::string_view extra);
    void stream_error(Conn& c, const ApiError& e);

    ServerOptions opts_;
    json::Identity id_;
    Store store_;
    std::unique_ptr<Wal> wal_;
    Fd epoll_;
    Fd signal_fd_;
    std::vector<Fd> listeners_;
    std::unordered_map<int, std::unique_ptr<Conn>> conns_;
    // Commits applied but not yet durable, with the WAL sequence that makes them so.
    std::deque<std::pair<uint64_t, Commit>> undelivered_;
    int64_t durable_rev_ = 1;  // newest revision whose commit is durable
    Clock::time_point next_progress_;
    Clock::time_point next_housekeeping_ = Clock::time_point::max();
    bool stopping_ = false;
    bool busy_since_trim_ = false;  // events arrived since the last malloc_trim
};

// Maps a gRPC code to the HTTP status grpc-gateway gives it.
int http_status(Code code);

}  // namespace gantry::kv
