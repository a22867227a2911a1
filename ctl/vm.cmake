# `gantryctl vm up|test` as a library; gantryctl's dispatcher calls vm_command().
# Included by ctl/CMakeLists.txt (or by qemu-tests when ctl/ has no CMakeLists yet).
add_library(gantry_ctl_vm ${CMAKE_CURRENT_LIST_DIR}/vm.cc)
add_library(gantry::ctl_vm ALIAS gantry_ctl_vm)
target_include_directories(gantry_ctl_vm PUBLIC ${PROJECT_SOURCE_DIR})
target_link_libraries(gantry_ctl_vm PUBLIC gantry::base PRIVATE gantry::qemu)
