/* Checks shared by the layer and golden tests (no TEST()s here): the finite-difference
 * gradient check of a layer, and the comparison with PyTorch golden fixtures. Failures are
 * reported through mn_test_fail, naming the check (`what`) or the fixture and tensor. */
#ifndef MN_LAYER_CHECK_H
#define MN_LAYER_CHECK_H

#include <stddef.h>
#include <stdint.h>
#include "layer.h"
#include "safetensors.h"

/* Flags of mn_check_layer_grads, or'ed (MN_CHECK_CARRY is 1, so a 0/1 carry reads the same). */
enum {
    /* run a first chunk and carry its final state into the checked one (the truncated-BPTT
     * boundary: no gradient flows into that state); otherwise every forward starts from 0 */
    MN_CHECK_CARRY = 1,
    /* set_mode(1, seed·7919 + 1) before the first forward: dropout draws one fixed mask,
     * the same for every forward of the check */
    MN_CHECK_TRAINING = 2,
    /* parameters = init + U(−0.6, 0.6) (a norm's scale stays near 1) instead of
     * U(−0.6, 0.6) alone; both are wider than init, to exercise saturation */
    MN_CHECK_NEAR_INIT = 4,
};

/* Loss = Σ y·w for random w, so ∂L/∂y = w. Checks l's parameter gradients (reported by
 * parameter name) and its input gradient by central differences with step eps, as
 * mn_check_close; stops after 5 failures. The harness owns l->params / l->grads for the
 * check and leaves them NULL; l itself stays the caller's. */
void mn_check_layer_grads(const char *what, mn_layer *l, int T, int B, const int32_t *lengths,
                          int flags, uint64_t seed, float eps);

/* |analytic − numeric| <= 2e-2·max(|a|, |n|) + 2e-3: float32 central differences. */
int mn_check_close(double analytic, double numeric);

/* v[i] ~ U(−scale, scale) */
void mn_check_randomize(float *v, size_t n, mn_rng *r, float scale);

/* Zeroed params and grads of l's size (calloc), and freeing them with the layer. */
float *mn_check_alloc_params(mn_layer *l);
void mn_check_free_layer(mn_layer *l);

/* The golden measure: the worst over elements of |got − ref| / max(|ref|, 1e-2·max|ref|).
 * mnemo computes in float32, the references in float64: elements near 0 by cancellation
 * are judged against 1% of the tensor's scale. NaN anywhere gives NaN; a ref that is NULL,
 * not F32 or not n elements gives INFINITY. */
double mn_check_rel_error(const float *got, const mn_st_tensor *ref, size_t n);

/* 1 when mn_check_rel_error(got, ref, n) <= tol; otherwise reports the worst element (or the
 * missing / mismatched tensor) and returns 0. MNEMO_GOLDEN_VERBOSE=1 prints every error. */
int mn_check_against(const char *fixture, const char *what, const float *got,
                     const mn_st_tensor *ref, size_t n, double tol);

/* Copies the fixture's tensor for each of l's parameter specs (by name, checked for dtype
 * and shape) into l->params. Returns the number of tensors loaded, or −1 after reporting
 * the first one absent or different. */
int mn_check_load_params(const char *fixture, const mn_st_file *f, mn_layer *l);

#endif
