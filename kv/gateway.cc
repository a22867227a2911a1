// The etcd v3 API on top of the server's connections: unary calls, the watch stream and
// the lease keep-alive stream, with etcd's JSON and errors.
#include "kv/server_impl.h"

namespace gantry::kv {

int http_status(Code code) {
    switch (code) {
        case Code::kOk:
            return 200;
        case Code::kInvalidArgument:
        case Code::kOutOfRange:
            return 400;
        case Code::kNotFound:
            return 404;
        case Code::kFailedPrecondition:
            return 412;
        case Code::kUnavailable:
            return 503;
        default:
            return 500;
    }
}

namespace {

#define KV_TRY_SEND(var, expr)                                                                     \
    auto var##_r = (expr);                                                                         \
    if (!var##_r) {                                                                                \
        send_response(c, http_status(var##_r.error().code), json::error_body(var##_r.error()), 0); \
        return;                                                                                    \
    }                                                                                              \
    auto& var = *var##_r

}  // namespace

void ServerImpl::handle_unary(Conn& c, const std::string& path, const std::string& body) {
    using json::Writer;
    KV_TRY_SEND(j, json::parse(body));
    auto reply = [&](const auto& r, auto encode) {
        if (!r) {
            send_response(c, http_status(r.error().code), json::error_body(r.error()), 0);
        } else {
            send_response(c, 200, encode(*r, id_), barrier());
        }
    };
    auto simple = [&](auto f) {
        std::string out;
        Writer w(out);
        w.begin_object();
        f(w);
        w.end_object();
        send_response(c, 200, out, barrier());
    };
    if (path == "/v3/kv/range") {
        KV_TRY_SEND(req, json::range_request(j));
        reply(store_.range(req), json::range_response);
    } else if (path == "/v3/kv/put") {
        KV_TRY_SEND(req, json::put_request(j));
        reply(store_.put(req), json::put_response);
    } else if (path == "/v3/kv/deleterange") {
        KV_TRY_SEND(req, json::delete_range_request(j));
        reply(store_.delete_range(req), json::delete_range_response);
    } else if (path == "/v3/kv/txn") {
        KV_TRY_SEND(req, json::txn_request(j));
        reply(store_.txn(req), json::txn_response);
    } else if (path == "/v3/kv/compaction") {
        KV_TRY_SEND(rev, json::int_field(j, "revision"));
        KV_TRY_SEND(r, store_.compact(rev));
        simple([&](Writer& w) { json::write_header(w, r.header, &id_); });
    } else if (path == "/v3/lease/grant") {
        KV_TRY_SEND(ttl, json::int_field(j, "TTL"));
        KV_TRY_SEND(lid, json::int_field(j, "ID"));
        KV_TRY_SEND(r, store_.lease_grant(lid, ttl, Clock::now()));
        simple([&](Writer& w) {
            json::write_header(w, r.header, &id_);
            w.int_str("ID", r.id);
            w.int_str("TTL", r.ttl);
        });
    } else if (path == "/v3/lease/revoke" || path == "/v3/kv/lease/revoke") {
        KV_TRY_SEND(lid, json::int_field(j, "ID"));
        KV_TRY_SEND(r, store_.lease_revoke(lid));
        simple([&](Writer& w) { json::write_header(w, r.header, &id_); });
    } else if (path == "/v3/lease/timetolive" || path == "/v3/kv/lease/timetolive") {
        KV_TRY_SEND(lid, json::int_field(j, "ID"));
        KV_TRY_SEND(keys, json::bool_field(j, "keys"));
        auto r = store_.lease_time_to_live(lid, keys, Clock::now());
        simple([&](Writer& w) {
            json::write_header(w, r.header, &id_);
            w.int_str("ID", r.id);
            w.int_str("TTL", r.ttl);
            w.int_str("grantedTTL", r.granted_ttl);
            if (!r.keys.empty()) {
                w.begin_array("keys");
                for (const auto& k : r.keys) {
                    w.raw_string(json::base64_encode(k));
                }
                w.end_array();
            }
        });
    } else if (path == "/v3/lease/leases" || path == "/v3/kv/lease/leases") {
        auto r = store_.lease_leases();
        simple([&](Writer& w) {
            json::write_header(w, r.header, &id_);
            if (!r.ids.empty()) {
                w.begin_array("leases");
                for (int64_t lid : r.ids) {
                    w.begin_object();
                    w.int_str("ID", lid);
                    w.end_object();
                }
                w.end_array();
            }
        });
    } else if (path == "/v3/maintenance/status") {
        simple([&](Writer& w) {
            json::write_header(w, ResponseHeader{store_.revision()}, &id_);
            w.string("version", "3.4.23");
            w.int_str("dbSize", static_cast<int64_t>(store_.key_count()));
            w.uint_str("leader", id_.member_id);
            w.uint_str("raftIndex", wal_ ? wal_->last_seq() : 0);
            w.uint_str("raftTerm", id_.raft_term);
            w.uint_str("raftAppliedIndex", wal_ ? wal_->last_seq() : 0);
            w.int_str("dbSizeInUse", static_cast<int64_t>(store_.key_count()));
        });
    } else if (path == "/v3/cluster/member/list") {
        simple([&](Writer& w) {
            json::write_header(w, ResponseHeader{0}, &id_);
            w.begin_array("members");
            w.begin_object();
            w.uint_str("ID", id_.member_id);
            w.string("name", "gantry-kv");
            w.begin_array("clientURLs");
            for (size_t i = 0; i < opts_.listen.size(); ++i) {
                auto host = opts_.listen[i].substr(0, opts_.listen[i].rfind(':'));
                w.raw_string(fmt::format("http://{}:{}", host, ports_[i]));
            }
            w.end_array();
            w.end_object();
            w.end_array();
        });
    } else {
        send_response(c, 404, "Not Found\n", 0, "text/plain; charset=utf-8");
    }
}

void ServerImpl::start_stream(Conn& c) {
    c.stream = c.req.path == "/v3/watch" ? Conn::Stream::kWatch : Conn::Stream::kKeepAlive;
    c.stream_body_left = c.req.content_length;
    send(c,
         "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: "
         "chunked\r\n\r\n",
         0);
}

void ServerImpl::stream_error(Conn& c, const ApiError& e) {
    // grpc-gateway's stream error shape; the stream ends after it.
    send_chunk(c,
               fmt::format("{{\"error\":{{\"grpc_code\":{},\"http_code\":{},\"message\":{},"
                           "\"http_status\":\"{}\"}}}}",
                           static_cast<int>(e.code), http_status(e.code),
                           json::Json(e.message).dump(), http::status_text(http_status(e.code))),
               0);
    send(c, "0\r\n\r\n", 0);
    c.closing = true;
}

void ServerImpl::handle_stream_message(Conn& c, std::string_view msg) {
    if (c.closing) {
        return;
    }
    auto j = json::parse(msg);
    if (!j) {
        stream_error(c, j.error());
        return;
    }
    if (c.stream == Conn::Stream::kKeepAlive) {
        auto lid = json::int_field(*j, "ID");
        if (!lid) {
            stream_error(c, lid.error());
            return;
        }
        auto r = store_.lease_keepalive(*lid, Clock::now());
        std::string out;
        json::Writer w(out);
        w.begin_object();
        w.object("result");
        json::write_header(w, r.header, &id_);
        w.int_str("ID", r.id);
        w.int_str("TTL", r.ttl);
        w.end_object();
        w.end_object();
        send_chunk(c, out, barrier());
        return;
    }
    if (const json::Json* cr = json::field(*j, "create_request")) {
        watch_create(c, *cr);
    } else if (const json::Json* cr = json::field(*j, "cancel_request")) {
        watch_cancel(c, *cr);
    } else if (json::field(*j, "progress_request") != nullptr) {
        send_chunk(c, watch_result(nullptr, durable_rev_, nullptr, "\"watch_id\":\"-1\""),
                   barrier());
    }
}

std::string ServerImpl::watch_result(const Watcher* w, int64_t rev,
                                     const std::vector<Event>* events, std::string_view extra) {
    std::string out;
    json::Writer wr(out);
    wr.begin_object();
    wr.object("result");
    json::write_header(wr, ResponseHeader{rev}, &id_);
    if (w != nullptr) {
        wr.int_str("watch_id", w->id);
    }
    if (!extra.empty()) {
        out += ',';
        out += extra;
    }
    if (events != nullptr && !events->empty()) {
        wr.begin_array("events");
        for (const Event& ev : *events) {
            json::write_event(wr, ev);
        }
        wr.end_array();
    }
    wr.end_object();
    wr.end_object();
    return out;
}

void ServerImpl::watch_create(Conn& c, const json::Json& j) {
    Watcher w;
    auto key = json::bytes_field(j, "key");
    auto end = json::bytes_field(j, "range_end");
    auto start = json::int_field(j, "start_revision");
    auto prev = json::bool_field(j, "prev_kv");
    auto progress = json::bool_field(j, "progress_notify");
    auto wid = json::int_field(j, "watch_id");
    for (const ApiError* e :
         {key ? nullptr : &key.error(), end ? nullptr : &end.error(),
          start ? nullptr : &start.error(), prev ? nullptr : &prev.error(),
          progress ? nullptr : &progress.error(), wid ? nullptr : &wid.error()}) {
        if (e != nullptr) {
            stream_error(c, *e);
            return;
        }
    }
    if (const json::Json* f = json::field(j, "filters"); f != nullptr && f->is_array()) {
        for (const auto& v : *f) {
            if (v == "NOPUT" || v == 0) {
                w.no_put = true;
            } else if (v == "NODELETE" || v == 1) {
                w.no_delete = true;
            }
        }
    }
    w.key = std::move(*key);
    w.range_end = std::move(*end);
    w.prev_kv = *prev;
    w.progress_notify = *progress;
    if (*wid != 0 && !c.watches.contains(*wid)) {
        w.id = *wid;
    } else {
        while (c.watches.contains(c.next_watch_id)) {
            ++c.next_watch_id;
        }
        w.id = c.next_watch_id++;
    }
    send_chunk(c, watch_result(&w, durable_rev_, nullptr, "\"created\":true"), barrier());
    int64_t from = *start == 0 ? durable_rev_ + 1 : *start;
    if (from < store_.compact_revision()) {
        // etcd answers a watch that starts before the compaction with a cancel that
        // names the compact revision, and no header revision.
        std::string extra =
            fmt::format("\"canceled\":true,\"compact_revision\":\"{}\"", store_.compact_revision());
        send_chunk(c, watch_result(&w, 0, nullptr, extra), barrier());
        return;
    }
    if (from <= durable_rev_) {
        std::vector<Event> evs;
        for (auto& [rev, ev] : store_.history(w.key, w.range_end, from, durable_rev_)) {
            if ((ev.type == EventType::kPut && w.no_put) ||
                (ev.type == EventType::kDelete && w.no_delete)) {
                continue;
            }
            if (!w.prev_kv) {
                ev.prev_kv.reset();
            }
            evs.push_back(std::move(ev));
        }
        if (!evs.empty()) {
            send_chunk(c, watch_result(&w, durable_rev_, &evs, ""), barrier());
        }
        from = durable_rev_ + 1;
    }
    w.next_rev = from;
    c.watches[w.id] = std::move(w);
}

void ServerImpl::watch_cancel(Conn& c, const json::Json& j) {
    auto wid = json::int_field(j, "watch_id");
    if (!wid) {
        stream_error(c, wid.error());
        return;
    }
    auto it = c.watches.find(*wid);
    if (it == c.watches.end()) {
        return;  // etcd ignores cancels of unknown watches
    }
    Watcher w = std::move(it->second);
    c.watches.erase(it);
    send_chunk(c, watch_result(&w, durable_rev_, nullptr, "\"canceled\":true"), barrier());
}

void ServerImpl::dispatch(const Commit& commit) {
    for (auto& [fd, c] : conns_) {
        for (auto& [wid, w] : c->watches) {
            if (commit.revision < w.next_rev) {
                continue;
            }
            std::vector<Event> evs;
            for (const Event& ev : commit.events) {
                const std::string& k = ev.kv.key;
                bool in = w.range_end.empty() ? k == w.key
                                              : k >= w.key && (range_end_is_infinite(w.range_end) ||
                                                               k < w.range_end);
                if (!in || (ev.type == EventType::kPut && w.no_put) ||
                    (ev.type == EventType::kDelete && w.no_delete)) {
                    continue;
                }
                evs.push_back(ev);
                if (!w.prev_kv) {
                    evs.back().prev_kv.reset();
                }
            }
            w.next_rev = commit.revision + 1;
            if (!evs.empty()) {
                send_chunk(*c, watch_result(&w, commit.revision, &evs, ""), 0);
            }
        }
    }
}

void ServerImpl::progress_tick() {
    for (auto& [fd, c] : conns_) {
        for (auto& [wid, w] : c->watches) {
            if (w.progress_notify) {
                send_chunk(*c, watch_result(&w, durable_rev_, nullptr, ""), barrier());
            }
        }
    }
}

}  // namespace gantry::kv
