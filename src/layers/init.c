#include "init.h"
#include "gemm.h"

#include <math.h>
#include <string.h>

void mn_init_uniform(float *w, size_t n, float bound, mn_rng *rng) {
    for (size_t i = 0; i < n; i++) w[i] = mn_rng_uniform_range(rng, -bound, bound);
}

/* The same Gram-Schmidt in w itself, in float with double sums: for when the double copy
 * does not fit in memory. Same Gaussians in the same order, so the same matrix up to
 * float rounding (orthonormal to about 1e-6). AT(i, k): element k of vector i. */
static void orthogonal_in_place(float *w, int rows, int cols, float gain, mn_rng *rng) {
    int tall = rows > cols, n = tall ? cols : rows, len = tall ? rows : cols;
    size_t si = tall ? 1 : (size_t)cols, sk = tall ? (size_t)cols : 1;
#define AT(i, k) w[(size_t)(i) * si + (size_t)(k) * sk]
    for (int i = 0; i < n; i++)
        for (int k = 0; k < len; k++) AT(i, k) = (float)mn_rng_normal(rng);
    for (int i = 0; i < n; i++) {
        for (int pass = 0; pass < 2; pass++)
            for (int j = 0; j < i; j++) {
                double d = 0;
                for (int k = 0; k < len; k++) d += (double)AT(j, k) * AT(i, k);
                for (int k = 0; k < len; k++) AT(i, k) = (float)(AT(i, k) - d * AT(j, k));
            }
        double norm = 0;
        for (int k = 0; k < len; k++) norm += (double)AT(i, k) * AT(i, k);
        norm = sqrt(norm);
        for (int k = 0; k < len; k++) AT(i, k) = (float)(AT(i, k) / norm);
    }
    for (int i = 0; i < n; i++)
        for (int k = 0; k < len; k++) AT(i, k) = (float)(gain * AT(i, k));
#undef AT
}

mn_status mn_init_orthogonal(float *w, int rows, int cols, float gain, mn_rng *rng) {
    /* Orthonormalize the longer dimension's vectors: work on the transpose when the
     * matrix is tall so that we always orthonormalize `n` vectors of length `len`. */
    int tall = rows > cols, n = tall ? cols : rows, len = tall ? rows : cols;
    void *scratch = NULL;
    size_t cap = 0, count, bytes;
    if (!mn_mul_size((size_t)n, (size_t)len, &count) ||
        !mn_mul_size(count, sizeof(double), &bytes) ||
        mn_try_reserve(&scratch, &cap, bytes) != MN_OK) {
        orthogonal_in_place(w, rows, cols, gain, rng);
        return MN_OK;
    }
    double *q = scratch;
    for (size_t i = 0; i < count; i++) q[i] = mn_rng_normal(rng);
    for (int i = 0; i < n; i++) {
        double *v = q + (size_t)i * len;
        for (int pass = 0; pass < 2; pass++)          /* twice is enough (Kahan) */
            for (int j = 0; j < i; j++) {
                const double *u = q + (size_t)j * len;
                double d = 0;
                for (int k = 0; k < len; k++) d += u[k] * v[k];
                for (int k = 0; k < len; k++) v[k] -= d * u[k];
            }
        double norm = 0;
        for (int k = 0; k < len; k++) norm += v[k] * v[k];
        norm = sqrt(norm);
        for (int k = 0; k < len; k++) v[k] /= norm;
    }
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++)
            w[(size_t)r * cols + c] =
                (float)(gain * (tall ? q[(size_t)c * len + r] : q[(size_t)r * len + c]));
    mn_release(q);
    return MN_OK;
}

void mn_init_identity(float *w, int n, float gain) {
    memset(w, 0, (size_t)n * n * sizeof(float));
    for (int i = 0; i < n; i++) w[(size_t)i * n + i] = gain;
}

/* Threads split the columns into blocks; each walks the rows in order, touching memory
 * row by row so the inner loop vectorizes. */
void mn_column_sums(const float *x, size_t rows, int cols, float *out) {
    enum { BLOCK = 64 };
    int blocks = (cols + BLOCK - 1) / BLOCK;
    #pragma omp parallel for schedule(static) if ((size_t)rows * cols > 65536)
    for (int bk = 0; bk < blocks; bk++) {
        int c0 = bk * BLOCK, w = MN_MIN(BLOCK, cols - c0);
        float s[BLOCK] = {0};
        for (size_t r = 0; r < rows; r++) {
            const float *row = x + r * cols + c0;
            for (int c = 0; c < w; c++) s[c] += row[c];
        }
        for (int c = 0; c < w; c++) out[c0 + c] += s[c];
    }
}

void mn_affine(const float *x, const float *W, const float *b, float *y, size_t N, int in,
               int out) {
    for (size_t n = 0; n < N; n++) memcpy(y + n * out, b, (size_t)out * sizeof(float));
    mn_sgemm(0, 1, (int)N, out, in, 1.0f, x, in, W, in, 1.0f, y, out);
}
