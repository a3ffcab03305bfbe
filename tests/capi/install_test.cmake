# cmake -DBUILD_DIR=... -DWORK_DIR=... -DCONSUMER_DIR=... -P install_test.cmake
# Installs the build into a scratch prefix, checks the installed files, and builds and runs consumer/main.c against
# the installed package: once with find_package(rembert), once with pkg-config.
function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    string(REPLACE ";" " " cmd "${ARGN}")
    message(FATAL_ERROR "${cmd} failed (${rc}):\n${out}\n${err}")
  endif()
  set(run_output "${out}" PARENT_SCOPE)
endfunction()

set(prefix ${WORK_DIR}/prefix)
file(REMOVE_RECURSE ${WORK_DIR})
run(${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${prefix})

string(REGEX MATCH "^[0-9]+" major "${VERSION}")
foreach(file include/rembert.h lib/librembert.so lib/librembert.so.${major} lib/librembert.so.${VERSION}
             lib/cmake/rembert/rembertConfig.cmake lib/cmake/rembert/rembertConfigVersion.cmake
             lib/cmake/rembert/rembertTargets.cmake lib/pkgconfig/rembert.pc)
  if(NOT EXISTS ${prefix}/${file})
    message(FATAL_ERROR "cmake --install did not install ${file}")
  endif()
endforeach()
foreach(link lib/librembert.so lib/librembert.so.${major})
  if(NOT IS_SYMLINK ${prefix}/${link})
    message(FATAL_ERROR "${link} should be a symbolic link to the versioned library")
  endif()
endforeach()

# find_package(rembert)
run(${CMAKE_COMMAND} -S ${CONSUMER_DIR} -B ${WORK_DIR}/cmake -G ${GENERATOR} -DCMAKE_PREFIX_PATH=${prefix}
    -DCMAKE_C_COMPILER=${C_COMPILER} "-DCMAKE_C_FLAGS=${C_FLAGS}" -DCMAKE_BUILD_TYPE=Release)
run(${CMAKE_COMMAND} --build ${WORK_DIR}/cmake)
run(${WORK_DIR}/cmake/consumer ${TOKENIZER_DIR})
if(NOT run_output MATCHES "rembert ${VERSION}")
  message(FATAL_ERROR "the find_package consumer printed: ${run_output}")
endif()

# pkg-config
set(ENV{PKG_CONFIG_PATH} ${prefix}/lib/pkgconfig)
run(${PKG_CONFIG} --cflags --libs rembert)
separate_arguments(pc_flags UNIX_COMMAND "${run_output}")
separate_arguments(extra_flags UNIX_COMMAND "${C_FLAGS}")
run(${C_COMPILER} -std=c99 -Wall -Wextra -Wpedantic -Werror ${extra_flags} ${CONSUMER_DIR}/main.c ${pc_flags}
    -Wl,-rpath,${prefix}/lib -o ${WORK_DIR}/consumer_pkgconfig)
run(${WORK_DIR}/consumer_pkgconfig ${TOKENIZER_DIR})
if(NOT run_output MATCHES "rembert ${VERSION}")
  message(FATAL_ERROR "the pkg-config consumer printed: ${run_output}")
endif()
message(STATUS "installed into ${prefix}; found by find_package and by pkg-config")
