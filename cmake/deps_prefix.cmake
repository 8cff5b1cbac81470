# SPT_DEPS_PREFIX: find every third-party dependency in one private prefix and
# nowhere else. The prefix is Debian packages unpacked with `dpkg -x` (the GPU
# bundle, scripts/gpu_bundle.sh), so it has the Debian layout (usr/include,
# usr/lib/x86_64-linux-gnu, usr/share/cmake ...). Every find_* call is re-rooted
# under it with the root-path modes set to ONLY, so a dependency the bundle lacks
# fails at configure time here (scripts/gpu_check.sh --dry-run, run by CI), not on
# the GPU machine. Programs (compilers, python) and the CUDA toolkit stay the
# host's: the toolkit's root is added as a second root.
#
# Also defines spt_find_library(NAME HEADER h NAMES libs... PACKAGE debian-pkg):
# an imported target spt::NAME from a header and libraries (no pkg-config, which
# the GPU machine does not have), with a clear error naming the package.

set(SPT_DEPS_PREFIX "" CACHE PATH
    "Find all dependencies in this prefix only (Debian packages unpacked with dpkg -x)")

if(SPT_DEPS_PREFIX)
  get_filename_component(_spt_prefix "${SPT_DEPS_PREFIX}" REALPATH)
  if(NOT IS_DIRECTORY "${_spt_prefix}/usr")
    message(FATAL_ERROR "SPT_DEPS_PREFIX=${SPT_DEPS_PREFIX} has no usr/ folder; "
                        "hint: unpack the bundle first (scripts/gpu_check.sh does)")
  endif()
  set(CMAKE_FIND_ROOT_PATH "${_spt_prefix}")
  if(SPT_WITH_CUDA)
    # The toolkit is the host's: <root>/bin/nvcc.
    get_filename_component(_spt_nvcc "${CMAKE_CUDA_COMPILER}" REALPATH)
    get_filename_component(_spt_cuda_root "${_spt_nvcc}" DIRECTORY)
    get_filename_component(_spt_cuda_root "${_spt_cuda_root}" DIRECTORY)
    list(APPEND CMAKE_FIND_ROOT_PATH "${_spt_cuda_root}")
    set(CUDAToolkit_ROOT "${_spt_cuda_root}")
  endif()
  set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
  set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
  set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
  set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
  # The bundle is Debian's x86-64 multiarch layout whatever the host compiler says.
  set(CMAKE_LIBRARY_ARCHITECTURE x86_64-linux-gnu)
  message(STATUS "spt: dependencies from ${_spt_prefix} only (roots: ${CMAKE_FIND_ROOT_PATH})")
endif()

function(spt_find_library name)
  cmake_parse_arguments(ARG "" "HEADER;PACKAGE" "NAMES" ${ARGN})
  string(TOUPPER "${name}" up)
  find_path(SPT_${up}_INCLUDE_DIR NAMES ${ARG_HEADER})
  set(libs "")
  foreach(lib IN LISTS ARG_NAMES)
    find_library(SPT_${up}_${lib}_LIBRARY NAMES ${lib})
    if(NOT SPT_${up}_${lib}_LIBRARY)
      message(FATAL_ERROR "${name}: library ${lib} not found; hint: install the Debian package "
                          "${ARG_PACKAGE} (scripts/install_deps.sh) or add it to the GPU bundle")
    endif()
    list(APPEND libs "${SPT_${up}_${lib}_LIBRARY}")
  endforeach()
  if(NOT SPT_${up}_INCLUDE_DIR)
    message(FATAL_ERROR "${name}: header ${ARG_HEADER} not found; hint: install the Debian package "
                        "${ARG_PACKAGE} (scripts/install_deps.sh) or add it to the GPU bundle")
  endif()
  add_library(spt::${name} INTERFACE IMPORTED GLOBAL)
  set_target_properties(spt::${name} PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${SPT_${up}_INCLUDE_DIR}"
    INTERFACE_LINK_LIBRARIES "${libs}")
  message(STATUS "spt: ${name} ${libs}")
endfunction()
