#include "supervisor/graph.h"

#include <gtest/gtest.h>

namespace gantry::supervisor {
namespace {

ServiceSpec svc(std::string name, std::vector<std::string> deps = {}) {
    ServiceSpec s;
    s.name = std::move(name);
    s.argv = {"true"};
    for (auto& d : deps) {
        s.depends_on.push_back({d, DependCondition::Started});
    }
    return s;
}

TEST(Graph, StartOrderPutsDependenciesFirst) {
    auto g =
        Graph::build({svc("web", {"db", "cache"}), svc("db"), svc("cache", {"db"}), svc("lone")});
    ASSERT_TRUE(g) << g.error().str();
    EXPECT_EQ(g->start_order(), (std::vector<std::string>{"db", "cache", "web", "lone"}));
    EXPECT_EQ(g->stop_order(), (std::vector<std::string>{"lone", "web", "cache", "db"}));
    EXPECT_EQ(g->dependents("db"), (std::vector<std::string>{"web", "cache"}));
    EXPECT_TRUE(g->dependents("web").empty());
}

TEST(Graph, RejectsCycleAndNamesIt) {
    auto g = Graph::build({svc("a", {"b"}), svc("b", {"c"}), svc("c", {"a"})});
    ASSERT_FALSE(g);
    EXPECT_EQ(g.error().str(), "dependency cycle: a -> b -> c -> a");
}

TEST(Graph, RejectsSelfDependency) {
    auto g = Graph::build({svc("a", {"a"})});
    ASSERT_FALSE(g);
    EXPECT_EQ(g.error().str(), "service \"a\" depends on itself");
}

TEST(Graph, RejectsUnknownWithHint) {
    auto g = Graph::build({svc("web", {"dbb"}), svc("db")});
    ASSERT_FALSE(g);
    EXPECT_EQ(g.error().str(),
              "service \"web\" depends on unknown service \"dbb\" (did you mean \"db\"?)");
}

TEST(Graph, RejectsDuplicate) {
    auto g = Graph::build({svc("a"), svc("a")});
    ASSERT_FALSE(g);
    EXPECT_NE(g.error().str().find("defined twice"), std::string::npos);
}

TEST(Graph, HealthyConditionNeedsHealthcheck) {
    ServiceSpec web = svc("web");
    web.depends_on.push_back({"db", DependCondition::Healthy});
    auto g = Graph::build({web, svc("db")});
    ASSERT_FALSE(g);
    EXPECT_NE(g.error().str().find("has no healthcheck"), std::string::npos);
    ServiceSpec db = svc("db");
    db.healthcheck = HealthCheck{{"true"}};
    EXPECT_TRUE(Graph::build({web, db}));
}

}  // namespace
}  // namespace gantry::supervisor
