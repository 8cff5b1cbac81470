# io tests, compiled into spt_tests.
target_sources(spt_tests PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/test_safetensors.cpp
  ${CMAKE_CURRENT_LIST_DIR}/test_malformed.cpp
  ${CMAKE_CURRENT_LIST_DIR}/test_torch_bin.cpp
  ${CMAKE_CURRENT_LIST_DIR}/test_model_config.cpp
  ${CMAKE_CURRENT_LIST_DIR}/test_weight_map.cpp
  ${CMAKE_CURRENT_LIST_DIR}/test_checkpoint.cpp
  ${CMAKE_CURRENT_LIST_DIR}/test_gguf.cpp
)
# The malformed-file tests also run the spt-convert tool itself.
if(TARGET spt-convert)
  add_dependencies(spt_tests spt-convert)
  target_compile_definitions(spt_tests PRIVATE SPT_CONVERT_PATH="$<TARGET_FILE:spt-convert>")
endif()
