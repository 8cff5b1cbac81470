# tokenize tests, compiled into spt_tests. The corpus test reads the SOTU archive
# (liblzma) and the gzip reference ids (zlib).
find_package(LibLZMA REQUIRED)
find_package(ZLIB REQUIRED)
target_sources(spt_tests PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/corpus.cpp
  ${CMAKE_CURRENT_LIST_DIR}/test_reference.cpp
  ${CMAKE_CURRENT_LIST_DIR}/test_tokenizer_errors.cpp
)
target_link_libraries(spt_tests PRIVATE LibLZMA::LibLZMA ZLIB::ZLIB)
