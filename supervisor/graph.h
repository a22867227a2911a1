// The dependency graph of services (depends_on): validation, start order, stop order.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "base/error.h"
#include "supervisor/service_spec.h"

namespace gantry::supervisor {

class Graph {
  public:
    // Fails on a duplicate name, a reference to an unknown service (with a "did you mean"),
    // a service depending on itself, a cycle ("a -> b -> c -> a"), and service_healthy on a
    // service without a healthcheck or notify readiness.
    static Result<Graph> build(const std::vector<ServiceSpec>& specs);

    // Dependencies first; ties keep the input order, so output is deterministic.
    const std::vector<std::string>& start_order() const { return order_; }
    // The reverse: dependents are stopped before what they depend on.
    std::vector<std::string> stop_order() const;
    // Services that name `name` in depends_on.
    const std::vector<std::string>& dependents(const std::string& name) const;

  private:
    std::vector<std::string> order_;
    std::map<std::string, std::vector<std::string>> dependents_;
};

}  // namespace gantry::supervisor
