# The OS image builder (`gantry-build os`): included by rootfs-build/CMakeLists.txt.
pkg_check_modules(ZSTD REQUIRED IMPORTED_TARGET libzstd)

add_library(gantry_osimage
    ${CMAKE_CURRENT_LIST_DIR}/os_cmd.cc
    ${CMAKE_CURRENT_LIST_DIR}/os_cpio.cc
    ${CMAKE_CURRENT_LIST_DIR}/os_elf.cc
    ${CMAKE_CURRENT_LIST_DIR}/os_image.cc
    ${CMAKE_CURRENT_LIST_DIR}/os_kernel.cc
    ${CMAKE_CURRENT_LIST_DIR}/os_layers.cc
    ${CMAKE_CURRENT_LIST_DIR}/os_modules.cc
    ${CMAKE_CURRENT_LIST_DIR}/os_proc.cc
    ${CMAKE_CURRENT_LIST_DIR}/os_seccomp.cc
    ${CMAKE_CURRENT_LIST_DIR}/os_store.cc
)
add_library(gantry::osimage ALIAS gantry_osimage)
target_link_libraries(gantry_osimage PUBLIC gantry::base
    PRIVATE PkgConfig::ZSTD gantry::image gantry::runtime nlohmann_json::nlohmann_json)

gantry_add_test(osimage_test unit
    SOURCES
        ${CMAKE_CURRENT_LIST_DIR}/tests/os_cpio_test.cc
        ${CMAKE_CURRENT_LIST_DIR}/tests/os_elf_test.cc
        ${CMAKE_CURRENT_LIST_DIR}/tests/os_image_test.cc
        ${CMAKE_CURRENT_LIST_DIR}/tests/os_layers_test.cc
    LIBS gantry::osimage)
