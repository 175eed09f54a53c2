/* mpirun support for the CLI: see mpi.h. Only this file and the library's comm_mpi.c see
 * MPI; the commands ask cli_mpi_rank() and cli_mpi_size(). */
#include "ranks.h"
#include "args.h"

#include <stdio.h>

#ifdef MN_WITH_MPI
#include <mpi.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int started, rank, size, local_size = 1, shared_end;
static int real_stderr = -1;   /* a rank > 0's own stderr, kept for its one line */
static MPI_Comm ctl;           /* for cli_mpi_finish alone: never matched with training's sums */

/* Launchers announce themselves in the environment: Open MPI's mpirun, PMI (MPICH's
 * Hydra, Intel MPI, srun --mpi=pmi2) and PMIx (srun --mpi=pmix, Open MPI 5). */
static int launched(void) {
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMI_RANK",
                                       "PMIX_RANK"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        if (getenv(vars[i])) return 1;
    return 0;
}

void cli_mpi_start(void) {
    if (!launched()) return;
    int provided;
    /* the library calls MPI from the thread that calls it, never from OpenMP workers */
    if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) return;
    started = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    MPI_Comm_dup(MPI_COMM_WORLD, &ctl);
    MPI_Comm local;
    if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL,
                            &local) == MPI_SUCCESS) {
        MPI_Comm_size(local, &local_size);
        MPI_Comm_free(&local);
    }
    if (rank > 0) {
        fflush(NULL);
        real_stderr = dup(2);
        if (!freopen("/dev/null", "w", stdout) || !freopen("/dev/null", "w", stderr)) {
            /* nothing to do: the rank then prints as one process would */
        }
    }
}

int cli_mpi_rank(void) { return rank; }
int cli_mpi_size(void) { return started ? size : 1; }

int cli_mpi_default_threads(void) {
    if (!started || getenv("OMP_NUM_THREADS")) return 0;
    int mine = mn_get_threads();   /* the cores this process may run on */
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    /* bound by the launcher to fewer cores than the machine has: those are this rank's */
    if (online > 0 && mine < online) return mine;
    int n = mine / (local_size > 0 ? local_size : 1);
    return n > 0 ? n : 1;
}

int cli_mpi_attach(mn_trainer *tr, mn_comm *comm) {
    memset(comm, 0, sizeof *comm);
    if (!started || size < 2) return 0;
    mn_status st = mn_comm_from_mpi(&(MPI_Comm){MPI_COMM_WORLD}, comm);
    if (st || (st = mn_trainer_set_comm(tr, comm))) {
        mn_comm_release(comm);
        return cli_lib_fail(st, NULL);
    }
    return 0;
}

void cli_mpi_detach(mn_comm *comm) { mn_comm_release(comm); }

void cli_mpi_shared_end(void) { shared_end = 1; }

static unsigned line_hash(const char *s) {
    unsigned h = 2166136261u;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

static double seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* A rank that failed alone waits this long for the others before it ends the job: long
 * enough for ranks that failed with it to arrive, short against a user waiting. */
#define ALONE_WAIT_S 10.0

static void say(const char *reason) {
    fflush(NULL);
    if (rank == 0) fprintf(stderr, "mnemo: rank 0: %s\n", reason);
    else if (real_stderr >= 0) dprintf(real_stderr, "mnemo: rank %d: %s\n", rank, reason);
}

int cli_mpi_finish(int rc) {
    if (!started) return rc;
    fflush(NULL);
    const char *line = rc ? cli_last_error_line() : "";
    int mine[2] = {rc, (int)(line_hash(line) & 0x7fffffff)};
    int *all = malloc(sizeof(int) * 2 * (size_t)size);
    MPI_Request req;
    if (!all || MPI_Iallgather(mine, 2, MPI_INT, all, 2, MPI_INT, ctl, &req) != MPI_SUCCESS) {
        say(line[0] ? line : "cannot compare the ranks' outcomes; ending the job");
        MPI_Abort(MPI_COMM_WORLD, rc ? rc : 1);
    }
    /* A rank that succeeded, or failed together with the others, waits as long as it takes;
     * one that failed on its own may be waited for by peers that are inside a training sum
     * it never joins: after a while it ends the job. */
    int done = 0;
    if (rc == 0 || shared_end) {
        MPI_Wait(&req, MPI_STATUS_IGNORE);
        done = 1;
    } else {
        for (double t0 = seconds(); !done && seconds() - t0 < ALONE_WAIT_S;) {
            MPI_Test(&req, &done, MPI_STATUS_IGNORE);
            if (!done) usleep(2000);
        }
    }
    if (!done) {
        say(rank == 0 ? "the other ranks went on without rank 0 (the line above says why it "
                        "stopped); ending the job" : line);
        MPI_Abort(MPI_COMM_WORLD, rc);
    }
    int job = all[0];
    for (int r = 1; r < size && !job; r++) job = all[2 * r];
    /* rank 0 has spoken already; another rank speaks when its failure is not rank 0's (a
     * stop by a signal is everyone's, whatever each rank then said about saving) */
    if (rank > 0 && rc != 0 && rc != 130 && rc != 143 && (rc != all[0] || mine[1] != all[1]))
        say(line);
    free(all);
    MPI_Comm_free(&ctl);
    MPI_Finalize();
    return job;
}

#else

void cli_mpi_start(void) {}
int cli_mpi_rank(void) { return 0; }
int cli_mpi_size(void) { return 1; }
int cli_mpi_default_threads(void) { return 0; }
int cli_mpi_attach(mn_trainer *tr, mn_comm *comm) {
    (void)tr;
    (void)comm;
    return 0;
}
void cli_mpi_detach(mn_comm *comm) { (void)comm; }
void cli_mpi_shared_end(void) {}
int cli_mpi_finish(int rc) { return rc; }

#endif
