# The build options compose: each combination configures (a configure only: the torch-free build
# and its tests were run by hand, see the issue 23 note). Run with -DSOURCE_DIR, -DWORK_DIR and
# what the parent build found things with (-DGENERATOR, -DCXX, -DCC, -DPREFIX_PATH with | for ;,
# -DTORCH_DIR).
set(COMBINATIONS
  "-DPYDMED_WITH_TORCH=OFF"
  "-DPYDMED_WITH_TORCH=OFF,-DPYDMED_BUILD_TOOLS=OFF"
  "-DPYDMED_BUILD_TOOLS=OFF,-DPYDMED_BUILD_EXAMPLES=OFF"
  "-DPYDMED_BUILD_TESTS=OFF,-DPYDMED_BUILD_BENCHMARKS=OFF,-DPYDMED_BUILD_TOOLS=OFF,-DPYDMED_BUILD_EXAMPLES=OFF"
  "-DPYDMED_WITH_TORCH=OFF,-DPYDMED_BUILD_TESTS=OFF")
string(REPLACE "|" ";" prefix_path "${PREFIX_PATH}")
set(i 0)
foreach(combo IN LISTS COMBINATIONS)
  string(REPLACE "," " " shown "${combo}")
  string(REPLACE "," ";" args "${combo}")
  math(EXPR i "${i} + 1")
  file(REMOVE_RECURSE ${WORK_DIR}/${i})
  execute_process(COMMAND ${CMAKE_COMMAND} -S ${SOURCE_DIR} -B ${WORK_DIR}/${i} -G ${GENERATOR}
                          -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=${CXX} -DCMAKE_C_COMPILER=${CC}
                          "-DCMAKE_PREFIX_PATH=${prefix_path}" -DTorch_DIR=${TORCH_DIR} ${args}
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "configure with ${shown} failed:\n${err}")
  endif()
  message(STATUS "configures: ${shown}")
endforeach()
