# Writes clcp.pc for one install prefix. Included at configure time and run
# again by `cmake --install` (a --prefix given there replaces the configured
# one). In: PC_IN, PC_OUT, PC_PREFIX, PC_LIBDIR, PC_INCLUDEDIR, PC_VERSION.
foreach(v PC_IN PC_OUT PC_PREFIX PC_LIBDIR PC_INCLUDEDIR PC_VERSION)
  if(NOT DEFINED ${v})
    message(FATAL_ERROR "ClcpPcFile.cmake: ${v} is not set")
  endif()
endforeach()

set(CLCP_PC_PREFIX "${PC_PREFIX}")
if(IS_ABSOLUTE "${PC_LIBDIR}")
  set(CLCP_PC_LIBDIR "${PC_LIBDIR}")
else()
  set(CLCP_PC_LIBDIR "\${exec_prefix}/${PC_LIBDIR}")
endif()
if(IS_ABSOLUTE "${PC_INCLUDEDIR}")
  set(CLCP_PC_INCLUDEDIR "${PC_INCLUDEDIR}")
else()
  set(CLCP_PC_INCLUDEDIR "\${prefix}/${PC_INCLUDEDIR}")
endif()
set(PROJECT_VERSION "${PC_VERSION}")
set(CLCP_PC_LIBS_PRIVATE "${PC_LIBS_PRIVATE}") # optional: " -lxdp -lbpf"
configure_file("${PC_IN}" "${PC_OUT}" @ONLY)
