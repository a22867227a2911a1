// gantry-oci end to end: the OCI runtime CLI's lifecycle and its error behaviour (duplicate
// id, unknown id, start twice, delete while running: fail, and change nothing).
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "runtime/tests/root_fixture.h"

namespace gantry::runtime::testing {
namespace {

using json = nlohmann::json;

class Cli : public RootTest {
  protected:
    struct Out {
        int code = -1;
        std::string out, err;
    };

    // Runs gantry-oci with --root in the temp dir; stdin is /dev/null.
    Out oci(const std::vector<std::string>& args) {
        std::string cmd = fmt::format("cd {} && {} --root {}/state", bundle_, GANTRY_OCI_BIN, dir_);
        for (const auto& a : args) {
            cmd += " '" + a + "'";
        }
        cmd += fmt::format(" </dev/null >{0}/out 2>{0}/err", dir_);
        int st = std::system(cmd.c_str());
        Out o;
        o.code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        o.out = slurp(dir_ + "/out");
        o.err = slurp(dir_ + "/err");
        return o;
    }

    static std::string slurp(const std::string& p) {
        std::ifstream in(p);
        std::stringstream ss;
        ss << in.rdbuf();
        return ss.str();
    }

    std::string status(const std::string& cid) {
        Out o = oci({"state", cid});
        if (o.code != 0) {
            return "error: " + o.err;
        }
        return json::parse(o.out)["status"];
    }

    // A created container running `sleep 60` once started.
    void make_sleeper() { write_config(base_spec({"sleep", "60"})); }
};

TEST_F(Cli, SpecWritesAConfigThatRuns) {
    ASSERT_EQ(::unlink((bundle_ + "/config.json").c_str()), -1);
    Out o = oci({"spec"});
    ASSERT_EQ(o.code, 0) << o.err;
    Out again = oci({"spec"});
    EXPECT_NE(again.code, 0);
    EXPECT_NE(again.err.find("already exists"), std::string::npos);
    json j = json::parse(slurp(bundle_ + "/config.json"));
    j["process"]["args"] = {"/bin/probe"};
    write_config(j);
    Out r = oci({"run", id()});
    ASSERT_EQ(r.code, 0) << r.err;
    json p = json::parse(r.out);
    EXPECT_EQ(p["pid"], 1);
    EXPECT_EQ(p["hostname"], "gantry");
    // run cleans up after itself.
    EXPECT_EQ(oci({"list"}).out.find(id()), std::string::npos);
}

TEST_F(Cli, RunExitsWithTheContainersStatus) {
    write_config(base_spec({"sh", "-c", "exit 7"}));
    EXPECT_EQ(oci({"run", id()}).code, 7);
    // (A signal from inside cannot kill the pid namespace's init: the kernel ignores it.)
    write_config(base_spec({"false"}));
    EXPECT_EQ(oci({"run", id("b")}).code, 1);
}

TEST_F(Cli, FullLifecycle) {
    make_sleeper();
    std::string cid = id();
    Out c = oci({"create", "--pid-file", dir_ + "/pid", cid});
    ASSERT_EQ(c.code, 0) << c.err;
    EXPECT_EQ(status(cid), "created");
    json st = json::parse(oci({"state", cid}).out);
    EXPECT_EQ(st["ociVersion"], "1.0.2");
    EXPECT_EQ(st["id"], cid);
    EXPECT_EQ(st["bundle"], bundle_);
    EXPECT_EQ(std::to_string(st["pid"].get<int>()), slurp(dir_ + "/pid"));
    EXPECT_NE(oci({"list"}).out.find(cid), std::string::npos);

    ASSERT_EQ(oci({"start", cid}).code, 0);
    EXPECT_EQ(status(cid), "running");

    Out e = oci({"exec", cid, "hostname"});
    EXPECT_EQ(e.code, 0) << e.err;
    EXPECT_EQ(e.out, "gantry\n");
    EXPECT_EQ(oci({"exec", cid, "sh", "-c", "exit 3"}).code, 3);

    ASSERT_EQ(oci({"kill", cid, "KILL"}).code, 0);
    for (int i = 0; i < 100 && status(cid) != "stopped"; i++) {
        ::usleep(10000);
    }
    EXPECT_EQ(status(cid), "stopped");
    Out k = oci({"kill", cid});
    EXPECT_NE(k.code, 0);
    EXPECT_NE(k.err.find("is stopped"), std::string::npos) << k.err;
    ASSERT_EQ(oci({"delete", cid}).code, 0);
    Out gone = oci({"state", cid});
    EXPECT_NE(gone.code, 0);
    EXPECT_NE(gone.err.find("does not exist"), std::string::npos);
}

TEST_F(Cli, DuplicateIdFailsAndLeavesTheFirstAlone) {
    make_sleeper();
    std::string cid = id();
    ASSERT_EQ(oci({"create", cid}).code, 0);
    json before = json::parse(oci({"state", cid}).out);
    Out dup = oci({"create", cid});
    EXPECT_NE(dup.code, 0);
    EXPECT_NE(dup.err.find("container \"" + cid + "\" already exists"), std::string::npos)
        << dup.err;
    json after = json::parse(oci({"state", cid}).out);
    EXPECT_EQ(before, after);
    EXPECT_EQ(oci({"delete", "--force", cid}).code, 0);
}

TEST_F(Cli, UnknownIdFailsForEveryCommand) {
    for (const char* cmd : {"start", "state", "kill", "delete", "exec"}) {
        std::vector<std::string> args = {cmd, "no-such-container"};
        if (std::string(cmd) == "exec") {
            args.push_back("true");
        }
        Out o = oci(args);
        EXPECT_NE(o.code, 0) << cmd;
        EXPECT_NE(o.err.find("container \"no-such-container\" does not exist"), std::string::npos)
            << cmd << ": " << o.err;
    }
}

TEST_F(Cli, StartTwiceFails) {
    make_sleeper();
    std::string cid = id();
    ASSERT_EQ(oci({"create", cid}).code, 0);
    ASSERT_EQ(oci({"start", cid}).code, 0);
    Out again = oci({"start", cid});
    EXPECT_NE(again.code, 0);
    EXPECT_NE(again.err.find("not created"), std::string::npos) << again.err;
    EXPECT_EQ(status(cid), "running");
    EXPECT_EQ(oci({"delete", "--force", cid}).code, 0);
}

TEST_F(Cli, DeleteWhileRunningFailsWithoutSideEffect) {
    make_sleeper();
    std::string cid = id();
    ASSERT_EQ(oci({"create", cid}).code, 0);
    ASSERT_EQ(oci({"start", cid}).code, 0);
    Out d = oci({"delete", cid});
    EXPECT_NE(d.code, 0);
    EXPECT_NE(d.err.find("is running; stop it first or use --force"), std::string::npos) << d.err;
    EXPECT_EQ(status(cid), "running");
    Out f = oci({"delete", "--force", cid});
    EXPECT_EQ(f.code, 0) << f.err;
    EXPECT_NE(oci({"state", cid}).code, 0);
}

TEST_F(Cli, FailedCreateLeavesNoState) {
    json spec = base_spec({"/bin/true"});
    spec["process"]["cwd"] = "/proc/self/cwd";
    write_config(spec);
    Out c = oci({"create", id()});
    EXPECT_NE(c.code, 0);
    EXPECT_NE(c.err.find("process.cwd"), std::string::npos) << c.err;
    EXPECT_NE(oci({"state", id()}).code, 0);
    // The same id is free again.
    make_sleeper();
    EXPECT_EQ(oci({"create", id()}).code, 0);
    EXPECT_EQ(oci({"delete", "--force", id()}).code, 0);
}

TEST_F(Cli, BadConfigNamesTheJsonPath) {
    json spec = base_spec({"/bin/true"});
    spec["process"]["terminal"] = true;
    write_config(spec);
    Out c = oci({"run", id()});
    EXPECT_NE(c.code, 0);
    EXPECT_NE(c.err.find("config.json: process.terminal: true is not supported"), std::string::npos)
        << c.err;
}

}  // namespace
}  // namespace gantry::runtime::testing
