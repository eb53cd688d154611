# `cmake --install` puts rtrec's libraries under lib/, its headers under
# include/rtrec/ (the API in include/rtrec/rtrec/, the headers it builds on
# beside it) and a CMake package under lib/cmake/rtrec/, so that another
# project does:
#
#   find_package(rtrec CONFIG REQUIRED)
#   target_link_libraries(app PRIVATE rtrec::rtrec)   # #include <rtrec/rtrec.hpp>
#
# (tests/package/ is such a project; CI builds it against an install.)
include(CMakePackageConfigHelpers)

set(RTREC_EXPORTED rtrec_model rtrec_storage rtrec_actors rtrec_rtrec rtrec_tls)
if(TARGET rtrec_http)
  list(APPEND RTREC_EXPORTED rtrec_http)
endif()
if(TARGET rtrec_testing)
  list(APPEND RTREC_EXPORTED rtrec_testing)
endif()
install(TARGETS ${RTREC_EXPORTED} EXPORT rtrecTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} ${CMAKE_INSTALL_INCLUDEDIR}/rtrec)

install(DIRECTORY include/rtrec DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/rtrec
  FILES_MATCHING PATTERN "*.hpp")
foreach(dir engine storage messages actors apps/http tests/harness)
  install(DIRECTORY ${dir}/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/rtrec/${dir}
    FILES_MATCHING PATTERN "*.hpp" PATTERN "*_test*" EXCLUDE)
endforeach()

set(RTREC_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/rtrec)
install(EXPORT rtrecTargets NAMESPACE rtrec:: FILE rtrecTargets.cmake
  DESTINATION ${RTREC_CMAKE_DIR})
configure_package_config_file(cmake/rtrecConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/rtrecConfig.cmake INSTALL_DESTINATION ${RTREC_CMAKE_DIR})
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/rtrecConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/rtrecConfig.cmake
              ${CMAKE_CURRENT_BINARY_DIR}/rtrecConfigVersion.cmake
              cmake/FindCAF.cmake cmake/rtrec_dependencies.cmake
  DESTINATION ${RTREC_CMAKE_DIR})
