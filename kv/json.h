// etcd's JSON gateway encoding of the v3 API (grpc-gateway with OrigName): bytes are
// base64, int64 are strings on output and numbers or strings on input, enums are names
// on output and names or numbers on input, fields take snake_case or lowerCamelCase
// names, and zero values are left out of the output.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "kv/types.h"

namespace gantry::kv::json {

using Json = nlohmann::json;

std::string base64_encode(std::string_view in);
// Standard or URL alphabet, padding optional (Go's jsonpb accepts all of them).
ApiResult<std::string> base64_decode(std::string_view in);

// Parses a request body; an empty body is an empty object, as in etcd.
ApiResult<Json> parse(std::string_view body);

ApiResult<RangeRequest> range_request(const Json& j);
ApiResult<PutRequest> put_request(const Json& j);
ApiResult<DeleteRangeRequest> delete_range_request(const Json& j);
ApiResult<TxnRequest> txn_request(const Json& j);
ApiResult<int64_t> int_field(const Json& j, std::string_view snake);
ApiResult<bool> bool_field(const Json& j, std::string_view snake);
ApiResult<std::string> bytes_field(const Json& j, std::string_view snake);
// The member of `j` called `snake` or its lowerCamelCase form; null if absent.
const Json* field(const Json& j, std::string_view snake);

// Identity reported in every top-level header.
struct Identity {
    uint64_t cluster_id = 0;
    uint64_t member_id = 0;
    uint64_t raft_term = 0;
};

// Appends JSON to a string without building a tree: responses are written straight out,
// in etcd's field order.
class Writer {
  public:
    explicit Writer(std::string& out) : out_(out) {}
    void begin_object() { sep(), out_ += '{', first_ = true; }
    void end_object() { out_ += '}', first_ = false; }
    void begin_array(std::string_view name) { key(name), out_ += '[', first_ = true; }
    void end_array() { out_ += ']', first_ = false; }
    void key(std::string_view name);
    void object(std::string_view name) { key(name), out_ += '{', first_ = true; }
    // Fields below are omitted when they hold the zero value, like proto3 JSON.
    void int_str(std::string_view name, int64_t v);
    void uint_str(std::string_view name, uint64_t v);
    void boolean(std::string_view name, bool v);
    void bytes(std::string_view name, std::string_view v);
    void string(std::string_view name, std::string_view v);
    void raw_string(std::string_view v);  // an array element
    void raw_int_str(int64_t v);          // an array element

  private:
    void sep() {
        if (!first_) {
            out_ += ',';
        }
        first_ = false;
    }
    std::string& out_;
    bool first_ = true;
};

void write_kv(Writer& w, const KeyValue& kv);
void write_header(Writer& w, const ResponseHeader& h, const Identity* id);
std::string range_response(const RangeResponse& r, const Identity& id);
std::string put_response(const PutResponse& r, const Identity& id);
std::string delete_range_response(const DeleteRangeResponse& r, const Identity& id);
std::string txn_response(const TxnResponse& r, const Identity& id);
std::string error_body(const ApiError& e);
void write_event(Writer& w, const Event& ev);

}  // namespace gantry::kv::json
