/* Moving 8 columns between a row-major [T, ld] layout and 8 contiguous rows of length T,
 * 8×8 tiles at a time (AVX2 shuffles, or the same moves in plain C): how the state-space
 * layers feed their channels, time-major in memory, to per-channel FFTs. tile8.c */
#ifndef MN_TILE8_H
#define MN_TILE8_H

#include "core.h"

/* cols[c·ldc + t] = rows[t·ldr + c] for c < 8, t < T; chk[c] += rows[t·ldr + c]·0 (NaN
 * exactly when column c holds an Inf or NaN). */
void mn_tile8_to_cols(const float *rows, size_t ldr, int T, float *cols, size_t ldc,
                      float chk[8]);
/* rows[t·ldr + c] = cols[c·ldc + t] for c < 8, t < T, or += with accumulate. */
void mn_tile8_to_rows(const float *cols, size_t ldc, int T, float *rows, size_t ldr,
                      int accumulate);
/* Tests: 1 runs the plain-C moves even where AVX2 is there (the same bits); 0 undoes. */
void mn_tile8_use_portable(int on);

#endif
