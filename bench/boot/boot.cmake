# gantry-boot-bench: median boot timeline of the OS image (see docs/os-image.md).
add_executable(gantry-boot-bench ${CMAKE_CURRENT_LIST_DIR}/boot_bench.cc)
target_link_libraries(gantry-boot-bench PRIVATE gantry::qemu gantry::base
    nlohmann_json::nlohmann_json)
