#include "kv/json.h"

#include <fmt/format.h>

namespace gantry::kv::json {

namespace {

constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string camel(std::string_view snake) {
    std::string out;
    bool up = false;
    for (char c : snake) {
        if (c == '_') {
            up = true;
        } else {
            out += up ? static_cast<char>(std::toupper(static_cast<unsigned char>(c))) : c;
            up = false;
        }
    }
    return out;
}

// Go's encoding/json wording, which clients and the differential test see.
std::string type_name(const Json& v) {
    if (v.is_string()) {
        return "string";
    }
    if (v.is_number()) {
        return "number";
    }
    if (v.is_boolean()) {
        return "bool";
    }
    if (v.is_array()) {
        return "array";
    }
    return "object";
}

std::unexpected<ApiError> bad(std::string msg) {
    return api_error(Code::kInvalidArgument, std::move(msg));
}

ApiResult<int64_t> to_int(const Json& v) {
    if (v.is_number_integer()) {
        return v.get<int64_t>();
    }
    if (v.is_number_float()) {
        return bad(
            fmt::format("json: cannot unmarshal number {} into Go value of type int64", v.dump()));
    }
    if (v.is_string()) {
        // grpc-gateway parses the string's content as a JSON number.
        const auto& s = v.get_ref<const std::string&>();
        size_t i = 0;
        if (i < s.size() && s[i] == '-') {
            ++i;
        }
        if (i == s.size()) {
            return bad("unexpected end of JSON input");
        }
        for (size_t k = i; k < s.size(); ++k) {
            if (!std::isdigit(static_cast<unsigned char>(s[k]))) {
                return bad(
                    fmt::format("invalid character '{}' looking for beginning of value", s[k]));
            }
        }
        try {
            return static_cast<int64_t>(std::stoll(s));
        } catch (...) {
            return bad(
                fmt::format("json: cannot unmarshal number {} into Go value of type int64", s));
        }
    }
    return bad(fmt::format("json: cannot unmarshal {} into Go value of type int64", type_name(v)));
}

template <typename E>
ApiResult<E> enum_field(const Json& j, std::string_view snake, const char* go_type,
                        std::initializer_list<const char*> names) {
    const Json* v = field(j, snake);
    if (v == nullptr) {
        return static_cast<E>(0);
    }
    if (v->is_string()) {
        int i = 0;
        for (const char* n : names) {
            if (v->get_ref<const std::string&>() == n) {
                return static_cast<E>(i);
            }
            ++i;
        }
        return bad(fmt::format("unknown value {} for enum {}", v->dump(), go_type));
    }
    auto n = to_int(*v);
    if (!n) {
        return std::unexpected(n.error());
    }
    return static_cast<E>(*n);
}

ApiResult<RequestOp> request_op(const Json& j);

#define KV_TRY(var, expr)                        \
    auto var##_r = (expr);                       \
    if (!var##_r) {                              \
        return std::unexpected(var##_r.error()); \
    }                                            \
    auto var = std::move(*var##_r)

}  // namespace

std::string base64_encode(std::string_view in) {
    std::string out;
    out.reserve((in.size() + 2) / 3 * 4);
    size_t i = 0;
    for (; i + 2 < in.size(); i += 3) {
        uint32_t n = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
        out += kB64[n >> 18];
        out += kB64[(n >> 12) & 63];
        out += kB64[(n >> 6) & 63];
        out += kB64[n & 63];
    }
    if (i + 1 == in.size()) {
        uint32_t n = uint8_t(in[i]) << 16;
        out += kB64[n >> 18];
        out += kB64[(n >> 12) & 63];
        out += "==";
    } else if (i + 2 == in.size()) {
        uint32_t n = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
        out += kB64[n >> 18];
        out += kB64[(n >> 12) & 63];
        out += kB64[(n >> 6) & 63];
        out += '=';
    }
    return out;
}

ApiResult<std::string> base64_decode(std::string_view in) {
    std::string out;
    uint32_t acc = 0;
    int bits = 0;
    size_t i = 0;
    for (; i < in.size(); ++i) {
        char c = in[i];
        int v;
        if (c >= 'A' && c <= 'Z') {
            v = c - 'A';
        } else if (c >= 'a' && c <= 'z') {
            v = c - 'a' + 26;
        } else if (c >= '0' && c <= '9') {
            v = c - '0' + 52;
        } else if (c == '+' || c == '-') {
            v = 62;
        } else if (c == '/' || c == '_') {
            v = 63;
        } else if (c == '=') {
            break;
        } else {
            return bad(fmt::format("illegal base64 data at input byte {}", i));
        }
        acc = (acc << 6) | static_cast<uint32_t>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += static_cast<char>((acc >> bits) & 0xff);
        }
    }
    for (size_t k = i; k < in.size(); ++k) {
        if (in[k] != '=') {
            return bad(fmt::format("illegal base64 data at input byte {}", k));
        }
    }
    if (bits >= 6) {  // a single leftover character cannot encode a byte
        return bad(fmt::format("illegal base64 data at input byte {}", i));
    }
    return out;
}

ApiResult<Json> parse(std::string_view body) {
    if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) {
        return Json::object();
    }
    Json j = Json::parse(body, nullptr, false);
    if (j.is_discarded()) {
        // Go's message names the first offending character; nlohmann does not expose it,
        // so find it the simple way for the common case of a non-JSON body.
        char c = body[body.find_first_not_of(" \t\r\n")];
        if (c != '{' && c != '[' && c != '"') {
            return bad(fmt::format("invalid character '{}' looking for beginning of value", c));
        }
        return bad("unexpected end of JSON input");
    }
    if (!j.is_object()) {
        return bad(fmt::format(
            "json: cannot unmarshal {} into Go value of type map[string]json.RawMessage",
            type_name(j)));
    }
    return j;
}

const Json* field(const Json& j, std::string_view snake) {
    if (!j.is_object()) {
        return nullptr;
    }
    auto it = j.find(snake);
    if (it == j.end()) {
        it = j.find(camel(snake));
    }
    if (it == j.end() || it->is_null()) {
        return nullptr;
    }
    return &*it;
}

ApiResult<int64_t> int_field(const Json& j, std::string_view snake) {
    const Json* v = field(j, snake);
    return v == nullptr ? ApiResult<int64_t>(0) : to_int(*v);
}

ApiResult<bool> bool_field(const Json& j, std::string_view snake) {
    const Json* v = field(j, snake);
    if (v == nullptr) {
        return false;
    }
    if (!v->is_boolean()) {
        return bad(
            fmt::format("json: cannot unmarshal {} into Go value of type bool", type_name(*v)));
    }
    return v->get<bool>();
}

ApiResult<std::string> bytes_field(const Json& j, std::string_view snake) {
    const Json* v = field(j, snake);
    if (v == nullptr) {
        return std::string();
    }
    if (!v->is_string()) {
        return bad(
            fmt::format("json: cannot unmarshal {} into Go value of type []uint8", type_name(*v)));
    }
    return base64_decode(v->get_ref<const std::string&>());
}

ApiResult<RangeRequest> range_request(const Json& j) {
    RangeRequest r;
    KV_TRY(key, bytes_field(j, "key"));
    KV_TRY(end, bytes_field(j, "range_end"));
    KV_TRY(limit, int_field(j, "limit"));
    KV_TRY(rev, int_field(j, "revision"));
    KV_TRY(order, (enum_field<SortOrder>(j, "sort_order", "etcdserverpb.RangeRequest_SortOrder",
                                         {"NONE", "ASCEND", "DESCEND"})));
    KV_TRY(target, (enum_field<SortTarget>(j, "sort_target", "etcdserverpb.RangeRequest_SortTarget",
                                           {"KEY", "VERSION", "CREATE", "MOD", "VALUE"})));
    KV_TRY(ser, bool_field(j, "serializable"));
    KV_TRY(keys_only, bool_field(j, "keys_only"));
    KV_TRY(count_only, bool_field(j, "count_only"));
    KV_TRY(min_mod, int_field(j, "min_mod_revision"));
    KV_TRY(max_mod, int_field(j, "max_mod_revision"));
    KV_TRY(min_create, int_field(j, "min_create_revision"));
    KV_TRY(max_create, int_field(j, "max_create_revision"));
    r.key = std::move(key);
    r.range_end = std::move(end);
    r.limit = limit;
    r.revision = rev;
    r.sort_order = order;
    r.sort_target = target;
    r.serializable = ser;
    r.keys_only = keys_only;
    r.count_only = count_only;
    r.min_mod_revision = min_mod;
    r.max_mod_revision = max_mod;
    r.min_create_revision = min_create;
    r.max_create_revision = max_create;
    return r;
}

ApiResult<PutRequest> put_request(const Json& j) {
    PutRequest p;
    KV_TRY(key, bytes_field(j, "key"));
    KV_TRY(value, bytes_field(j, "value"));
    KV_TRY(lease, int_field(j, "lease"));
    KV_TRY(prev, bool_field(j, "prev_kv"));
    KV_TRY(iv, bool_field(j, "ignore_value"));
    KV_TRY(il, bool_field(j, "ignore_lease"));
    p.key = std::move(key);
    p.value = std::move(value);
    p.lease = lease;
    p.prev_kv = prev;
    p.ignore_value = iv;
    p.ignore_lease = il;
    return p;
}

ApiResult<DeleteRangeRequest> delete_range_request(const Json& j) {
    DeleteRangeRequest d;
    KV_TRY(key, bytes_field(j, "key"));
    KV_TRY(end, bytes_field(j, "range_end"));
    KV_TRY(prev, bool_field(j, "prev_kv"));
    d.key = std::move(key);
    d.range_end = std::move(end);
    d.prev_kv = prev;
    return d;
}

namespace {

ApiResult<RequestOp> request_op(const Json& j) {
    RequestOp op;
    if (const Json* v = field(j, "request_range")) {
        KV_TRY(r, range_request(*v));
        op.kind = RequestOp::Kind::kRange;
        op.range = std::move(r);
    } else if (const Json* v = field(j, "request_put")) {
        KV_TRY(r, put_request(*v));
        op.kind = RequestOp::Kind::kPut;
        op.put = std::move(r);
    } else if (const Json* v = field(j, "request_delete_range")) {
        KV_TRY(r, delete_range_request(*v));
        op.kind = RequestOp::Kind::kDeleteRange;
        op.delete_range = std::move(r);
    } else if (const Json* v = field(j, "request_txn")) {
        KV_TRY(r, txn_request(*v));
        op.kind = RequestOp::Kind::kTxn;
        op.txn = std::make_shared<TxnRequest>(std::move(r));
    }
    return op;
}

ApiResult<std::vector<RequestOp>> ops(const Json& j, std::string_view name) {
    std::vector<RequestOp> out;
    const Json* v = field(j, name);
    if (v == nullptr) {
        return out;
    }
    if (!v->is_array()) {
        return bad(
            fmt::format("json: cannot unmarshal {} into Go value of type "
                        "[]*etcdserverpb.RequestOp",
                        type_name(*v)));
    }
    for (const Json& e : *v) {
        KV_TRY(op, request_op(e));
        out.push_back(std::move(op));
    }
    return out;
}

}  // namespace

ApiResult<TxnRequest> txn_request(const Json& j) {
    TxnRequest t;
    if (const Json* cs = field(j, "compare")) {
        if (!cs->is_array()) {
            return bad(
                fmt::format("json: cannot unmarshal {} into Go value of type "
                            "[]*etcdserverpb.Compare",
                            type_name(*cs)));
        }
        for (const Json& cj : *cs) {
            Compare c;
            KV_TRY(result,
                   (enum_field<CompareResult>(cj, "result", "etcdserverpb.Compare_CompareResult",
                                              {"EQUAL", "GREATER", "LESS", "NOT_EQUAL"})));
            KV_TRY(target,
                   (enum_field<CompareTarget>(cj, "target", "etcdserverpb.Compare_CompareTarget",
                                              {"VERSION", "CREATE", "MOD", "VALUE", "LEASE"})));
            KV_TRY(key, bytes_field(cj, "key"));
            KV_TRY(end, bytes_field(cj, "range_end"));
            c.result = result;
            c.target = target;
            c.key = std::move(key);
            c.range_end = std::move(end);
            switch (target) {
                case CompareTarget::kVersion: {
                    KV_TRY(n, int_field(cj, "version"));
                    c.number = n;
                    break;
                }
                case CompareTarget::kCreate: {
                    KV_TRY(n, int_field(cj, "create_revision"));
                    c.number = n;
                    break;
                }
                case CompareTarget::kMod: {
                    KV_TRY(n, int_field(cj, "mod_revision"));
                    c.number = n;
                    break;
                }
                case CompareTarget::kLease: {
                    KV_TRY(n, int_field(cj, "lease"));
                    c.number = n;
                    break;
                }
                case CompareTarget::kValue: {
                    KV_TRY(v, bytes_field(cj, "value"));
                    c.value = std::move(v);
                    break;
                }
            }
            t.compare.push_back(std::move(c));
        }
    }
    KV_TRY(success, ops(j, "success"));
    KV_TRY(failure, ops(j, "failure"));
    t.success = std::move(success);
    t.failure = std::move(failure);
    return t;
}

void Writer::key(std::string_view name) {
    sep();
    out_ += '"';
    out_ += name;
    out_ += "\":";
}

void Writer::int_str(std::string_view name, int64_t v) {
    if (v != 0) {
        key(name);
        fmt::format_to(std::back_inserter(out_), "\"{}\"", v);
    }
}

void Writer::uint_str(std::string_view name, uint64_t v) {
    if (v != 0) {
        key(name);
        fmt::format_to(std::back_inserter(out_), "\"{}\"", v);
    }
}

void Writer::boolean(std::string_view name, bool v) {
    if (v) {
        key(name);
        out_ += "true";
    }
}

void Writer::bytes(std::string_view name, std::string_view v) {
    if (!v.empty()) {
        key(name);
        out_ += '"';
        out_ += base64_encode(v);
        out_ += '"';
    }
}

void Writer::string(std::string_view name, std::string_view v) {
    if (!v.empty()) {
        key(name);
        out_ += Json(std::string(v)).dump();
    }
}

void Writer::raw_string(std::string_view v) {
    sep();
    out_ += Json(std::string(v)).dump();
}

void Writer::raw_int_str(int64_t v) {
    sep();
    fmt::format_to(std::back_inserter(out_), "\"{}\"", v);
}

void write_kv(Writer& w, const KeyValue& kv) {
    w.bytes("key", kv.key);
    w.int_str("create_revision", kv.create_revision);
    w.int_str("mod_revision", kv.mod_revision);
    w.int_str("version", kv.version);
    w.bytes("value", kv.value);
    w.int_str("lease", kv.lease);
}

void write_header(Writer& w, const ResponseHeader& h, const Identity* id) {
    w.object("header");
    if (id != nullptr) {
        w.uint_str("cluster_id", id->cluster_id);
        w.uint_str("member_id", id->member_id);
    }
    w.int_str("revision", h.revision);
    if (id != nullptr) {
        w.uint_str("raft_term", id->raft_term);
    }
    w.end_object();
}

namespace {

void write_kvs(Writer& w, std::string_view name, const std::vector<KeyValue>& kvs) {
    if (kvs.empty()) {
        return;
    }
    w.begin_array(name);
    for (const auto& kv : kvs) {
        w.begin_object();
        write_kv(w, kv);
        w.end_object();
    }
    w.end_array();
}

void range_fields(Writer& w, const RangeResponse& r, const Identity* id) {
    write_header(w, r.header, id);
    write_kvs(w, "kvs", r.kvs);
    w.boolean("more", r.more);
    w.int_str("count", r.count);
}

void put_fields(Writer& w, const PutResponse& r, const Identity* id) {
    write_header(w, r.header, id);
    if (r.prev_kv) {
        w.object("prev_kv");
        write_kv(w, *r.prev_kv);
        w.end_object();
    }
}

void delete_fields(Writer& w, const DeleteRangeResponse& r, const Identity* id) {
    write_header(w, r.header, id);
    w.int_str("deleted", r.deleted);
    write_kvs(w, "prev_kvs", r.prev_kvs);
}

void txn_fields(Writer& w, const TxnResponse& r, const Identity* id) {
    write_header(w, r.header, id);
    w.boolean("succeeded", r.succeeded);
    if (r.responses.empty()) {
        return;
    }
    w.begin_array("responses");
    for (const auto& op : r.responses) {
        w.begin_object();
        switch (op.kind) {
            case RequestOp::Kind::kRange:
                w.object("response_range");
                range_fields(w, op.range, nullptr);
                w.end_object();
                break;
            case RequestOp::Kind::kPut:
                w.object("response_put");
                put_fields(w, op.put, nullptr);
                w.end_object();
                break;
            case RequestOp::Kind::kDeleteRange:
                w.object("response_delete_range");
                delete_fields(w, op.delete_range, nullptr);
                w.end_object();
                break;
            case RequestOp::Kind::kTxn:
                w.object("response_txn");
                txn_fields(w, *op.txn, nullptr);
                w.end_object();
                break;
            case RequestOp::Kind::kNone:
                break;
        }
        w.end_object();
    }
    w.end_array();
}

template <typename F>
std::string top(F&& f) {
    std::string out;
    Writer w(out);
    w.begin_object();
    f(w);
    w.end_object();
    return out;
}

}  // namespace

std::string range_response(const RangeResponse& r, const Identity& id) {
    return top([&](Writer& w) { range_fields(w, r, &id); });
}
std::string put_response(const PutResponse& r, const Identity& id) {
    return top([&](Writer& w) { put_fields(w, r, &id); });
}
std::string delete_range_response(const DeleteRangeResponse& r, const Identity& id) {
    return top([&](Writer& w) { delete_fields(w, r, &id); });
}
std::string txn_response(const TxnResponse& r, const Identity& id) {
    return top([&](Writer& w) { txn_fields(w, r, &id); });
}

std::string error_body(const ApiError& e) {
    return fmt::format("{{\"error\":{0},\"message\":{0},\"code\":{1}}}", Json(e.message).dump(),
                       static_cast<int>(e.code));
}

void write_event(Writer& w, const Event& ev) {
    w.begin_object();
    if (ev.type == EventType::kDelete) {
        w.string("type", "DELETE");
    }
    w.object("kv");
    write_kv(w, ev.kv);
    w.end_object();
    if (ev.prev_kv) {
        w.object("prev_kv");
        write_kv(w, *ev.prev_kv);
        w.end_object();
    }
    w.end_object();
}

}  // namespace gantry::kv::json
