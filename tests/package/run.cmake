# Installs the build in BUILD_DIR into WORK_DIR/prefix, then configures,
# builds and runs the consumer project in SOURCE_DIR against it, as an
# outside project would (find_package(rtrec CONFIG REQUIRED)). Fails on the
# first step that fails, with its output.
file(REMOVE_RECURSE "${WORK_DIR}")
function(step what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "package test: ${what} failed (${rc}):\n${out}\n${err}")
  endif()
  message(STATUS "package test: ${what}: ok")
  set(last_output "${out}" PARENT_SCOPE)
endfunction()
step("install" ${CMAKE_COMMAND} --install "${BUILD_DIR}" --prefix "${WORK_DIR}/prefix")
step("configure the consumer" ${CMAKE_COMMAND} -S "${SOURCE_DIR}" -B "${WORK_DIR}/build"
     -DCMAKE_BUILD_TYPE=Release "-DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix"
     "-DCMAKE_CXX_FLAGS=${CXX_FLAGS}" "-DCMAKE_EXE_LINKER_FLAGS=${CXX_FLAGS}")
step("build the consumer" ${CMAKE_COMMAND} --build "${WORK_DIR}/build")
step("run the consumer" "${WORK_DIR}/build/rtrec_consumer")
if(NOT last_output MATCHES "consumer: ok")
  message(FATAL_ERROR "package test: the consumer did not report success:\n${last_output}")
endif()
step("run the harness consumer" "${WORK_DIR}/build/rtrec_harness_consumer")
if(NOT last_output MATCHES "1 test.*PASSED")
  message(FATAL_ERROR "package test: the harness consumer ran no passing test:\n${last_output}")
endif()
