# The build options compose: each combination configures (a configure only: the torch-free build
# itself is checked by hand, see pydmed_torch/README.md). Run with -DSOURCE_DIR and -DWORK_DIR.
set(COMBINATIONS
  "-DPYDMED_WITH_TORCH=OFF"
  "-DPYDMED_WITH_TORCH=OFF,-DPYDMED_BUILD_TOOLS=OFF"
  "-DPYDMED_BUILD_TOOLS=OFF,-DPYDMED_BUILD_EXAMPLES=OFF"
  "-DPYDMED_BUILD_TESTS=OFF,-DPYDMED_BUILD_BENCHMARKS=OFF,-DPYDMED_BUILD_TOOLS=OFF,-DPYDMED_BUILD_EXAMPLES=OFF"
  "-DPYDMED_WITH_TORCH=OFF,-DPYDMED_BUILD_TESTS=OFF")
set(i 0)
foreach(combo IN LISTS COMBINATIONS)
  string(REPLACE "," " " shown "${combo}")
  string(REPLACE "," ";" args "${combo}")
  math(EXPR i "${i} + 1")
  file(REMOVE_RECURSE ${WORK_DIR}/${i})
  execute_process(COMMAND ${CMAKE_COMMAND} -S ${SOURCE_DIR} -B ${WORK_DIR}/${i} -DCMAKE_BUILD_TYPE=Release ${args}
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "configure with ${shown} failed:\n${err}")
  endif()
  message(STATUS "configures: ${shown}")
endforeach()
