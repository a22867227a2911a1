# gantryctl service subcommands (owned by the supervisor part). The gantryctl target adds
#   target_sources(gantryctl PRIVATE ${GANTRY_CTL_SERVICE_SOURCES})
#   target_link_libraries(gantryctl PRIVATE ${GANTRY_CTL_SERVICE_LIBS})
# and dispatches through ctl/service_cmds.h (kServiceCommands).
set(GANTRY_CTL_SERVICE_SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/service_common.cc
    ${CMAKE_CURRENT_LIST_DIR}/ps.cc
    ${CMAKE_CURRENT_LIST_DIR}/inspect.cc
    ${CMAKE_CURRENT_LIST_DIR}/logs.cc
    ${CMAKE_CURRENT_LIST_DIR}/start.cc
    ${CMAKE_CURRENT_LIST_DIR}/stop.cc
    ${CMAKE_CURRENT_LIST_DIR}/restart.cc
    ${CMAKE_CURRENT_LIST_DIR}/exec.cc
    ${CMAKE_CURRENT_LIST_DIR}/events.cc
    ${CMAKE_CURRENT_LIST_DIR}/poweroff.cc
    ${CMAKE_CURRENT_LIST_DIR}/reboot.cc
    ${CMAKE_CURRENT_LIST_DIR}/config_status.cc
)
set(GANTRY_CTL_SERVICE_LIBS gantry::supervisor_client)
