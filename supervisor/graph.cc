#include "supervisor/graph.h"

#include <algorithm>
#include <functional>

#include "base/strings.h"

namespace gantry::supervisor {

Result<Graph> Graph::build(const std::vector<ServiceSpec>& specs) {
    std::map<std::string, const ServiceSpec*> by_name;
    std::vector<std::string> names;
    for (const auto& s : specs) {
        if (!by_name.emplace(s.name, &s).second) {
            return fail(Error::msg("service \"{}\" is defined twice", s.name));
        }
        names.push_back(s.name);
    }
    Graph g;
    for (const auto& s : specs) {
        g.dependents_[s.name];
        for (const auto& d : s.depends_on) {
            if (d.service == s.name) {
                return fail(Error::msg("service \"{}\" depends on itself", s.name));
            }
            auto it = by_name.find(d.service);
            if (it == by_name.end()) {
                std::string hint = closest_match(d.service, names);
                return fail(Error::msg(
                    "service \"{}\" depends on unknown service \"{}\"{}", s.name, d.service,
                    hint.empty() ? "" : fmt::format(" (did you mean \"{}\"?)", hint)));
            }
            if (d.condition == DependCondition::Healthy && !it->second->healthcheck &&
                !it->second->notify) {
                return fail(
                    Error::msg("service \"{}\" waits for \"{}\" to be healthy, but \"{}\" has "
                               "no healthcheck (add one, or use service_started)",
                               s.name, d.service, d.service));
            }
            g.dependents_[d.service].push_back(s.name);
        }
    }

    // Depth-first topological sort in input order; the path on the stack names a cycle.
    enum Mark { kNone, kActive, kDone };
    std::map<std::string, Mark> mark;
    std::vector<std::string> path;
    std::function<Status(const ServiceSpec&)> visit = [&](const ServiceSpec& s) -> Status {
        Mark& mk = mark[s.name];
        if (mk == kDone) {
            return ok();
        }
        if (mk == kActive) {
            auto from = std::find(path.begin(), path.end(), s.name);
            std::vector<std::string> cycle(from, path.end());
            cycle.push_back(s.name);
            return fail(Error::msg("dependency cycle: {}", join(cycle, " -> ")));
        }
        mk = kActive;
        path.push_back(s.name);
        for (const auto& d : s.depends_on) {
            GANTRY_TRY(visit(*by_name.at(d.service)));
        }
        path.pop_back();
        mark[s.name] = kDone;
        g.order_.push_back(s.name);
        return ok();
    };
    for (const auto& s : specs) {
        GANTRY_TRY(visit(s));
    }
    return g;
}

std::vector<std::string> Graph::stop_order() const {
    return {order_.rbegin(), order_.rend()};
}

const std::vector<std::string>& Graph::dependents(const std::string& name) const {
    static const std::vector<std::string> kNone;
    auto it = dependents_.find(name);
    return it == dependents_.end() ? kNone : it->second;
}

}  // namespace gantry::supervisor
