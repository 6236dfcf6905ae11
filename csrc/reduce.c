/* Reductions (sum, mean, max) over all values or one axis, and the transpose.
 * The bodies are in reduce.inc, written once over csrc/real.h's element type and compiled here
 * for float64 and for float32. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch.h"
#include "pyautograd.h"

#define PAG_F32 0
#include "real.h"
#include "reduce.inc"
#undef PAG_F32

#define PAG_F32 1
#include "real.h"
#include "reduce.inc"
#undef PAG_F32
