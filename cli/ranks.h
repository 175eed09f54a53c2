/* mpirun support (make MPI=1): the CLI's side of data-parallel training. Without MPI every
 * function is a stub: one rank, nothing to agree on. */
#ifndef MNEMO_CLI_RANKS_H
#define MNEMO_CLI_RANKS_H

#include "mnemo.h"

/* Initializes MPI when the binary was built with it and started by a launcher (mpirun,
 * mpiexec, srun: their environment says so); a plain start stays one process without
 * touching MPI. Ranks other than 0 write nothing: their stdout and stderr go nowhere, and
 * only cli_mpi_finish may speak for them. */
void cli_mpi_start(void);
int cli_mpi_rank(void);
int cli_mpi_size(void);
/* --threads' default under a launcher: the cores this rank may use, shared with the other
 * ranks on its machine unless the launcher bound it to its own; 0 when not under MPI. */
int cli_mpi_default_threads(void);
/* The whole world as the trainer's communicator (mn_comm_from_mpi, mn_trainer_set_comm);
 * 0, or the exit code after printing the error. comm is released by cli_mpi_detach. */
int cli_mpi_attach(mn_trainer *tr, mn_comm *comm);
void cli_mpi_detach(mn_comm *comm);
/* The command ended in a way every rank shares (a failure or stop the trainer reported on
 * all ranks): the ranks may wait for one another without a time limit. */
void cli_mpi_shared_end(void);
/* The end of the command on this rank, with its exit code: the ranks compare their
 * outcomes, ranks other than 0 whose failure differs from rank 0's print
 * "mnemo: rank R: <reason>" on the real stderr, and all return one exit code. A rank that
 * failed alone and whose peers do not come within a few seconds (they wait in a training
 * sum it will never join) ends the job with MPI_Abort. Returns the exit code to use. */
int cli_mpi_finish(int rc);

#endif
