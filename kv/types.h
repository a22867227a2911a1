// The etcd v3 data model as plain values: what a request asks and what a response says.
//
// Field names and defaults follow etcd's rpc.proto and kv.proto, so the JSON layer maps
// them one to one and a reader can check behaviour against etcd's documentation.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/expected.h"

namespace gantry::kv {

// gRPC status codes that etcd's errors carry; the HTTP gateway maps them to statuses.
enum class Code : int {
    kOk = 0,
    kUnknown = 2,
    kInvalidArgument = 3,
    kNotFound = 5,
    kFailedPrecondition = 9,
    kOutOfRange = 11,
    kInternal = 13,
    kUnavailable = 14,
};

// An error a client sees, worded exactly as etcd words it ("etcdserver: ...") so that
// clients which match on messages (etcdctl, client libraries) keep working.
struct ApiError {
    Code code = Code::kUnknown;
    std::string message;
};

template <typename T>
using ApiResult = Expected<T, ApiError>;

inline std::unexpected<ApiError> api_error(Code code, std::string message) {
    return std::unexpected<ApiError>(ApiError{code, std::move(message)});
}

// etcd's error texts (server/etcdserver/api/v3rpc/rpctypes/error.go).
namespace errors {
inline constexpr const char* kEmptyKey = "etcdserver: key is not provided";
inline constexpr const char* kKeyNotFound = "etcdserver: key not found";
inline constexpr const char* kValueProvided = "etcdserver: value is provided";
inline constexpr const char* kLeaseProvided = "etcdserver: lease is provided";
inline constexpr const char* kTooManyOps = "etcdserver: too many operations in txn request";
inline constexpr const char* kDuplicateKey = "etcdserver: duplicate key given in txn request";
inline constexpr const char* kCompacted = "etcdserver: mvcc: required revision has been compacted";
inline constexpr const char* kFutureRev =
    "etcdserver: mvcc: required revision is a future revision";
inline constexpr const char* kLeaseNotFound = "etcdserver: requested lease not found";
inline constexpr const char* kLeaseExist = "etcdserver: lease already exists";
inline constexpr const char* kLeaseTTLTooLarge = "etcdserver: too large lease TTL";
inline constexpr const char* kRequestTooLarge = "etcdserver: request is too large";
}  // namespace errors

struct KeyValue {
    std::string key;
    int64_t create_revision = 0;
    int64_t mod_revision = 0;
    int64_t version = 0;
    std::string value;
    int64_t lease = 0;
};

enum class EventType : int { kPut = 0, kDelete = 1 };

struct Event {
    EventType type = EventType::kPut;
    KeyValue kv;
    std::optional<KeyValue> prev_kv;
};

struct ResponseHeader {
    int64_t revision = 0;
};

enum class SortOrder : int { kNone = 0, kAscend = 1, kDescend = 2 };
enum class SortTarget : int { kKey = 0, kVersion = 1, kCreate = 2, kMod = 3, kValue = 4 };

struct RangeRequest {
    std::string key;
    std::string range_end;
    int64_t limit = 0;
    int64_t revision = 0;
    SortOrder sort_order = SortOrder::kNone;
    SortTarget sort_target = SortTarget::kKey;
    bool serializable = false;
    bool keys_only = false;
    bool count_only = false;
    int64_t min_mod_revision = 0;
    int64_t max_mod_revision = 0;
    int64_t min_create_revision = 0;
    int64_t max_create_revision = 0;
};

struct RangeResponse {
    ResponseHeader header;
    std::vector<KeyValue> kvs;
    bool more = false;
    int64_t count = 0;
};

struct PutRequest {
    std::string key;
    std::string value;
    int64_t lease = 0;
    bool prev_kv = false;
    bool ignore_value = false;
    bool ignore_lease = false;
};

struct PutResponse {
    ResponseHeader header;
    std::optional<KeyValue> prev_kv;
};

struct DeleteRangeRequest {
    std::string key;
    std::string range_end;
    bool prev_kv = false;
};

struct DeleteRangeResponse {
    ResponseHeader header;
    int64_t deleted = 0;
    std::vector<KeyValue> prev_kvs;
};

enum class CompareResult : int { kEqual = 0, kGreater = 1, kLess = 2, kNotEqual = 3 };
enum class CompareTarget : int { kVersion = 0, kCreate = 1, kMod = 2, kValue = 3, kLease = 4 };

struct Compare {
    CompareResult result = CompareResult::kEqual;
    CompareTarget target = CompareTarget::kVersion;
    std::string key;
    // The one of version/create_revision/mod_revision/lease that `target` names.
    int64_t number = 0;
    std::string value;
    std::string range_end;
};

struct TxnRequest;
struct TxnResponse;

struct RequestOp {
    enum class Kind { kNone, kRange, kPut, kDeleteRange, kTxn };
    Kind kind = Kind::kNone;
    RangeRequest range;
    PutRequest put;
    DeleteRangeRequest delete_range;
    std::shared_ptr<TxnRequest> txn;  // shared_ptr: the type is recursive
};

struct TxnRequest {
    std::vector<Compare> compare;
    std::vector<RequestOp> success;
    std::vector<RequestOp> failure;
};

struct ResponseOp {
    RequestOp::Kind kind = RequestOp::Kind::kNone;
    RangeResponse range;
    PutResponse put;
    DeleteRangeResponse delete_range;
    std::shared_ptr<TxnResponse> txn;
};

struct TxnResponse {
    ResponseHeader header;
    bool succeeded = false;
    std::vector<ResponseOp> responses;
};

struct CompactionResponse {
    ResponseHeader header;
};

struct LeaseGrantResponse {
    ResponseHeader header;
    int64_t id = 0;
    int64_t ttl = 0;
};

struct LeaseRevokeResponse {
    ResponseHeader header;
};

struct LeaseKeepAliveResponse {
    ResponseHeader header;
    int64_t id = 0;
    int64_t ttl = 0;  // 0: the lease does not exist (etcd's answer, not an error)
};

struct LeaseTimeToLiveResponse {
    ResponseHeader header;
    int64_t id = 0;
    int64_t ttl = -1;  // -1: the lease does not exist or expired
    int64_t granted_ttl = 0;
    std::vector<std::string> keys;
};

struct LeaseLeasesResponse {
    ResponseHeader header;
    std::vector<int64_t> ids;
};

// One write transaction's effect: the unit that is logged, replicated to watchers and
// replayed on recovery. Events are in sub-revision order.
struct Commit {
    int64_t revision = 0;
    std::vector<Event> events;
};

// "\0" as a range end means "every key from key on" (etcd's mkGteRange convention).
inline bool range_end_is_infinite(const std::string& range_end) {
    return range_end.size() == 1 && range_end[0] == '\0';
}

// The etcd prefix rule: the smallest key greater than every key with this prefix.
std::string prefix_end(const std::string& prefix);

}  // namespace gantry::kv
