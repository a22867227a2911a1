// One GoogleTest case per folder in qemu-tests/cases/: boots it and runs its checks.
#include <gtest/gtest.h>

#include <cstdlib>

#include "qemu-tests/harness/qcase.h"

namespace gantry::qemu {
namespace {

class QemuCase : public testing::TestWithParam<std::string> {};

TEST_P(QemuCase, Passes) {
    auto c = load_case(std::string(GANTRY_QEMU_CASES_DIR) + "/" + GetParam());
    ASSERT_TRUE(c) << c.error().str();
#ifdef GANTRY_CTL_BIN
    ::setenv("GANTRY_CTL", GANTRY_CTL_BIN, 0);  // the `ctl` check runs this build's gantryctl
#endif
    RunOptions opts{.image_root = GANTRY_OS_DIR, .work_root = GANTRY_QEMU_RUNS_DIR};
    if (auto why = skip_reason(*c, opts)) {
        GTEST_SKIP() << *why;
    }
    auto st = run_case(*c, opts);
    EXPECT_TRUE(st) << st.error().str();
}

INSTANTIATE_TEST_SUITE_P(Cases, QemuCase, testing::ValuesIn(list_cases(GANTRY_QEMU_CASES_DIR)),
                         [](const auto& info) {
                             std::string n = info.param;
                             for (char& ch : n) {
                                 if (!isalnum(static_cast<unsigned char>(ch))) {
                                     ch = '_';
                                 }
                             }
                             return n;
                         });

}  // namespace
}  // namespace gantry::qemu
