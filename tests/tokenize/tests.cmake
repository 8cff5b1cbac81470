# tokenize tests, compiled into spt_tests.
target_sources(spt_tests PRIVATE
)
