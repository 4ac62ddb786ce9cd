# Installation: headers, both libraries, clcp.pc, and the CMake package
# (find_package(clcp) -> clcp::clcp, clcp::clcp_static).
include(CMakePackageConfigHelpers)

set(CLCP_CMAKEDIR "${CMAKE_INSTALL_LIBDIR}/cmake/clcp" CACHE STRING
  "Where clcpConfig.cmake is installed (relative to the prefix)")

set_target_properties(clcp_shared PROPERTIES EXPORT_NAME clcp)
set_target_properties(clcp_static PROPERTIES EXPORT_NAME clcp_static)

# Components: "runtime" is libclcp.so.N alone; "dev" is the rest (headers,
# libclcp.a, the libclcp.so link, clcp.pc, the CMake package).
install(TARGETS clcp_shared clcp_static EXPORT clcpTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
    COMPONENT runtime NAMELINK_COMPONENT dev
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT dev)
install(DIRECTORY include/clcp DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
  COMPONENT dev FILES_MATCHING PATTERN "*.h")

install(EXPORT clcpTargets NAMESPACE clcp:: DESTINATION ${CLCP_CMAKEDIR}
  COMPONENT dev)
configure_package_config_file(cmake/clcpConfig.cmake.in
  ${PROJECT_BINARY_DIR}/clcpConfig.cmake
  INSTALL_DESTINATION ${CLCP_CMAKEDIR})
# 0.x: every minor release may break the ABI (the inline fast paths see
# struct clcp_endpt), so only the same minor version is compatible.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/clcpConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/clcpConfig.cmake
  ${PROJECT_BINARY_DIR}/clcpConfigVersion.cmake
  DESTINATION ${CLCP_CMAKEDIR} COMPONENT dev)

# clcp.pc: written now for the configured prefix, and again at install
# time so that `cmake --install --prefix DIR` gets a matching file.
set(PC_IN ${PROJECT_SOURCE_DIR}/cmake/clcp.pc.in)
set(PC_OUT ${PROJECT_BINARY_DIR}/clcp.pc)
set(PC_PREFIX ${CMAKE_INSTALL_PREFIX})
set(PC_LIBDIR ${CMAKE_INSTALL_LIBDIR})
set(PC_INCLUDEDIR ${CMAKE_INSTALL_INCLUDEDIR})
set(PC_VERSION ${PROJECT_VERSION})
set(PC_LIBS_PRIVATE "")
if(CLCP_HAVE_XDP) # udp's AF_XDP mode: what libclcp.a needs besides
  list(TRANSFORM CLCP_XDP_STATIC_LIBS PREPEND " -l" OUTPUT_VARIABLE pc_xdp)
  string(REPLACE ";" "" PC_LIBS_PRIVATE "${pc_xdp}")
endif()
include(${PROJECT_SOURCE_DIR}/cmake/ClcpPcFile.cmake)
install(CODE "
  set(PC_IN \"${PC_IN}\")
  set(PC_OUT \"${PC_OUT}\")
  set(PC_PREFIX \"\${CMAKE_INSTALL_PREFIX}\")
  set(PC_LIBDIR \"${PC_LIBDIR}\")
  set(PC_INCLUDEDIR \"${PC_INCLUDEDIR}\")
  set(PC_VERSION \"${PC_VERSION}\")
  set(PC_LIBS_PRIVATE \"${PC_LIBS_PRIVATE}\")
  include(\"${PROJECT_SOURCE_DIR}/cmake/ClcpPcFile.cmake\")"
  COMPONENT dev)
install(FILES ${PC_OUT} DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig
  COMPONENT dev)
