# data tests (readers, metrics, batching), compiled into spt_tests; tag [data].
target_sources(spt_tests PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/test_bad_rows.cpp
  ${CMAKE_CURRENT_LIST_DIR}/test_batching.cpp
  ${CMAKE_CURRENT_LIST_DIR}/test_glue.cpp
  ${CMAKE_CURRENT_LIST_DIR}/test_lm_text.cpp
  ${CMAKE_CURRENT_LIST_DIR}/test_metrics.cpp
  ${CMAKE_CURRENT_LIST_DIR}/test_table.cpp
)
