// A second translation unit that includes the wrapper: linking it with
// test_multiverseg.cpp proves the header has no non-inline definitions (ODR).
#include "multiverseg.hpp"

int second_tu_version_length() { return static_cast<int>(mvs::version().size()); }
