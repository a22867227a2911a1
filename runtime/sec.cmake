# Security pieces of gantry_runtime: capabilities, seccomp, cgroup v2, the default profile.
# Included by runtime/CMakeLists.txt after add_library(gantry_runtime ...); it adds sources
# and private dependencies to that target and names its tests in GANTRY_RUNTIME_SEC_TESTS
# for the part's unit-test binary.
pkg_check_modules(SECCOMP REQUIRED IMPORTED_TARGET libseccomp>=2.5)

# The default profile is data (runtime/profile/*.json), compiled into the library.
set(GANTRY_PROFILE_DIR ${CMAKE_CURRENT_SOURCE_DIR}/profile)
set(GANTRY_PROFILE_CC ${CMAKE_CURRENT_BINARY_DIR}/profile_data.cc)
add_custom_command(
    OUTPUT ${GANTRY_PROFILE_CC}
    COMMAND ${CMAKE_COMMAND}
        -DSECCOMP_JSON=${GANTRY_PROFILE_DIR}/default-seccomp.json
        -DPROFILE_JSON=${GANTRY_PROFILE_DIR}/default-profile.json
        -DOUTPUT=${GANTRY_PROFILE_CC}
        -P ${GANTRY_PROFILE_DIR}/embed.cmake
    DEPENDS
        ${GANTRY_PROFILE_DIR}/default-seccomp.json
        ${GANTRY_PROFILE_DIR}/default-profile.json
        ${GANTRY_PROFILE_DIR}/embed.cmake
    COMMENT "Embedding the default container profile"
    VERBATIM)

target_sources(gantry_runtime PRIVATE
    ${CMAKE_CURRENT_SOURCE_DIR}/capabilities.cc
    ${CMAKE_CURRENT_SOURCE_DIR}/cgroup_host.cc
    ${CMAKE_CURRENT_SOURCE_DIR}/cgroup_plan.cc
    ${CMAKE_CURRENT_SOURCE_DIR}/seccomp.cc
    ${CMAKE_CURRENT_SOURCE_DIR}/seccomp_cache.cc
    ${CMAKE_CURRENT_SOURCE_DIR}/seccomp_compile.cc
    ${GANTRY_PROFILE_CC})
# nlohmann_json and gantry::base are PUBLIC: the headers use nlohmann::json and Result.
target_link_libraries(gantry_runtime
    PUBLIC gantry::base nlohmann_json::nlohmann_json
    PRIVATE PkgConfig::SECCOMP)

set(GANTRY_RUNTIME_SEC_TESTS
    ${CMAKE_CURRENT_SOURCE_DIR}/tests/capabilities_test.cc
    ${CMAKE_CURRENT_SOURCE_DIR}/tests/seccomp_test.cc
    ${CMAKE_CURRENT_SOURCE_DIR}/tests/cgroup_test.cc
    ${CMAKE_CURRENT_SOURCE_DIR}/tests/profile_test.cc)
