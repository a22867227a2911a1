// The corpus of broken configs: tests/bad/NN-name.yaml, each with the exact diagnostics it
// must produce in NN-name.expected ("LINE:COLUMN: key.path: message", one per line).
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include "cloud-config/parse.h"
#include "cloud-config/tests/test_util.h"

namespace gantry::config {
namespace {

namespace fs = std::filesystem;
using testing::slurp;

std::vector<std::string> bad_files() {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(GANTRY_CONFIG_TESTS_DIR "/bad")) {
        if (e.path().extension() == ".yaml") {
            out.push_back(e.path().stem().string());
        }
    }
    std::sort(out.begin(), out.end());
    return out;
}

class BadConfig : public ::testing::TestWithParam<std::string> {};

TEST_P(BadConfig, ReportsExactlyTheExpectedErrors) {
    std::string base = std::string(GANTRY_CONFIG_TESTS_DIR "/bad/") + GetParam();
    std::string file = base + ".yaml";
    auto c = parse_config(slurp(file), file);
    ASSERT_FALSE(c) << file << " was accepted";
    std::string got;
    for (const auto& d : c.error()) {
        EXPECT_EQ(d.file, file);
        std::string line = d.str();
        ASSERT_EQ(line.rfind(file + ":", 0), 0u) << line;
        got += line.substr(file.size() + 1) + "\n";
    }
    EXPECT_EQ(got, slurp(base + ".expected"));
}

INSTANTIATE_TEST_SUITE_P(Corpus, BadConfig, ::testing::ValuesIn(bad_files()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                             std::string name = info.param;
                             std::replace(name.begin(), name.end(), '-', '_');
                             return "n" + name;
                         });

TEST(BadConfigCorpus, HasAtLeastFortyCasesEachWithExpectations) {
    auto files = bad_files();
    EXPECT_GE(files.size(), 40u);
    for (const auto& f : files) {
        std::string expected =
            slurp(std::string(GANTRY_CONFIG_TESTS_DIR "/bad/") + f + ".expected");
        EXPECT_FALSE(expected.empty()) << f << " has no .expected";
        // Every expectation carries a position: an error without line:column is a bug.
        EXPECT_TRUE(std::isdigit(static_cast<unsigned char>(expected[0]))) << f;
    }
}

}  // namespace
}  // namespace gantry::config
