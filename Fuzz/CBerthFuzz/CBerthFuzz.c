// Header-only: the declaration of libFuzzer's driver lives in include/CBerthFuzz.h.
#include "CBerthFuzz.h"
