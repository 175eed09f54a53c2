/* mn_comm over MPI (built with make MPI=1, which defines MN_WITH_MPI and compiles with
 * mpicc). The rest of the library never sees MPI: it calls the two sums of mn_comm. */
#include "comm.h"

#include <string.h>

#ifdef MN_WITH_MPI
#include <mpi.h>

/* The caller's communicator, duplicated so that mnemo's sums can never be matched with
 * the program's own collectives, with errors returned instead of aborting the job. */
typedef struct {
    MPI_Comm comm;
} mpi_ctx;

static mn_status mpi_failed(int err, const char *what, size_t n) {
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(err, text, &len) != MPI_SUCCESS) len = 0;
    text[len] = 0;
    return mn_fail(MN_E_IO, "MPI_Allreduce of %zu %s values failed: %s", n, what,
                   len ? text : "unknown MPI error");
}

/* MPI counts are int: long buffers go in pieces of at most 2^30 elements. */
#define PIECE ((size_t)1 << 30)

static mn_status sum_f32(void *ctx, float *buf, size_t n) {
    mpi_ctx *c = ctx;
    for (size_t at = 0; at < n; at += PIECE) {
        int k = (int)MN_MIN(PIECE, n - at);
        int err = MPI_Allreduce(MPI_IN_PLACE, buf + at, k, MPI_FLOAT, MPI_SUM, c->comm);
        if (err != MPI_SUCCESS) return mpi_failed(err, "float", n);
    }
    return MN_OK;
}

static mn_status sum_f64(void *ctx, double *buf, size_t n) {
    mpi_ctx *c = ctx;
    for (size_t at = 0; at < n; at += PIECE) {
        int k = (int)MN_MIN(PIECE, n - at);
        int err = MPI_Allreduce(MPI_IN_PLACE, buf + at, k, MPI_DOUBLE, MPI_SUM, c->comm);
        if (err != MPI_SUCCESS) return mpi_failed(err, "double", n);
    }
    return MN_OK;
}

static void release(void *ctx) {
    mpi_ctx *c = ctx;
    int fin = 0;
    /* after MPI_Finalize no MPI call is allowed; the handle dies with MPI itself */
    if (c && MPI_Finalized(&fin) == MPI_SUCCESS && !fin) MPI_Comm_free(&c->comm);
    mn_release(c);
}

mn_status mn_comm_from_mpi(const void *mpi_comm, mn_comm *out) {
    if (!out) return mn_fail(MN_E_ARG, "mn_comm_from_mpi: out is NULL");
    memset(out, 0, sizeof *out);
    if (!mpi_comm) return mn_fail(MN_E_ARG, "mn_comm_from_mpi: mpi_comm is NULL; pass the "
                                  "address of an MPI_Comm, e.g. &MPI_COMM_WORLD");
    int init = 0, fin = 0;
    MPI_Initialized(&init);
    MPI_Finalized(&fin);
    if (!init || fin)
        return mn_fail(MN_E_STATE, "mn_comm_from_mpi: MPI is %s; call it between MPI_Init "
                       "and MPI_Finalize", fin ? "already finalized" : "not initialized");
    mpi_ctx *c = mn_alloc_zero(sizeof *c);
    if (!c) return MN_E_NOMEM;
    int err = MPI_Comm_dup(*(const MPI_Comm *)mpi_comm, &c->comm);
    if (err != MPI_SUCCESS) {
        mn_release(c);
        return mn_fail(MN_E_IO, "MPI_Comm_dup failed (error %d)", err);
    }
    MPI_Comm_set_errhandler(c->comm, MPI_ERRORS_RETURN);
    MPI_Comm_rank(c->comm, &out->rank);
    MPI_Comm_size(c->comm, &out->size);
    out->allreduce_sum_f32 = sum_f32;
    out->allreduce_sum_f64 = sum_f64;
    out->release = release;
    out->ctx = c;
    return MN_OK;
}

#else

mn_status mn_comm_from_mpi(const void *mpi_comm, mn_comm *out) {
    (void)mpi_comm;
    if (out) memset(out, 0, sizeof *out);
    return mn_fail(MN_E_ARG, "this mnemo was built without MPI (make MPI=1)");
}

#endif
