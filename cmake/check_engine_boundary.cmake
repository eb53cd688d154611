# Fails the build when a file in engine/ includes a CAF header: engine/ is
# plain C++17 and must stay usable without the actor framework.
# Run as: cmake -DENGINE_DIR=<dir> -P check_engine_boundary.cmake
file(GLOB_RECURSE engine_files "${ENGINE_DIR}/*.hpp" "${ENGINE_DIR}/*.cpp")
set(offenders "")
foreach(f ${engine_files})
  file(STRINGS "${f}" hits REGEX "^[ \t]*#[ \t]*include[ \t]*[<\"]caf/")
  if(hits)
    list(APPEND offenders "${f}: ${hits}")
  endif()
endforeach()
if(offenders)
  string(REPLACE ";" "\n  " offenders "${offenders}")
  message(FATAL_ERROR "engine/ must not include CAF headers (move the code to actors/ or messages/):\n  ${offenders}")
endif()
