// libFuzzer target: any bytes through the parser and validator, then the emitters, which
// must read back. Run by tests/run_fuzz.sh for a short time in the unit suite.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "cloud-config/emit.h"
#include "cloud-config/parse.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view bytes(reinterpret_cast<const char*>(data), size);
    auto c = gantry::config::parse_config(bytes, "fuzz.yaml");
    if (c) {
        // A config that was accepted must print, and what prints must be accepted again.
        std::string yaml = gantry::config::to_yaml(*c);
        (void)gantry::config::to_json(*c);
        if (!gantry::config::parse_config(yaml, "fuzz-show.yaml")) {
            std::abort();
        }
    } else {
        (void)gantry::config::format_diagnostics(c.error());
    }
    return 0;
}
