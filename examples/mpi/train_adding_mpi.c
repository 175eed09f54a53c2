/* train_adding.c on several ranks: the program owns MPI, mnemo borrows its communicator.
 *
 *   mpicc train_adding_mpi.c $(pkg-config --cflags --libs mnemo) -o train_adding_mpi
 *   mpirun -np 2 ./train_adding_mpi [steps]
 *
 * Every rank builds the same task, model and trainer (same seeds), attaches the
 * communicator, and steps: each trains on its share of every batch of 32 and the ranks
 * sum their gradients, so all hold the same weights throughout. Rank 0 prints and saves. */
#include <mnemo.h>
#include <mpi.h>

#include <stdio.h>
#include <stdlib.h>

static int fail(int rank, const char *what) {
    fprintf(stderr, "train_adding_mpi: rank %d: %s: %s\n", rank, what, mn_last_error());
    MPI_Abort(MPI_COMM_WORLD, 1);   /* the other ranks may be waiting in a sum */
    return 1;
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    int steps = argc > 1 ? atoi(argv[1]) : 300;
    mn_set_threads(1);   /* one core per rank; give more where each rank has more */

    mn_task *task;
    if (mn_task_create("adding", 20, 1, &task)) return fail(rank, "task");
    mn_model_config mc;
    mn_model_config_init(&mc);
    mc.hidden_size = 32;
    mn_task_configure_model(task, &mc);
    mn_model *m;
    if (mn_model_create(&mc, 1, &m)) return fail(rank, "model");
    mn_train_config tc;
    mn_train_config_init(&tc);
    tc.steps = steps, tc.batch_size = 32, tc.lr = 0.01f, tc.clip_norm = 1;
    mn_trainer *tr;
    if (mn_trainer_create(m, task, &tc, &tr)) return fail(rank, "trainer");

    mn_comm comm;   /* a duplicate of MPI_COMM_WORLD, for mnemo's sums alone */
    if (mn_comm_from_mpi(&(MPI_Comm){MPI_COMM_WORLD}, &comm) || mn_trainer_set_comm(tr, &comm))
        return fail(rank, "communicator");
    mn_step_stats st;
    for (int s = 0; s < steps; s++)
        if (mn_trainer_step(tr, &st)) return fail(rank, "step");
    mn_eval_stats ev;   /* collective too: each rank evaluates a share */
    if (mn_trainer_evaluate(tr, &ev)) return fail(rank, "evaluate");
    if (rank == 0) {
        printf("adding T=20 on %d ranks: held-out MSE %.4f after %d steps (baseline %.4f)\n",
               size, ev.loss, steps, mn_task_get_info(task)->baseline_loss);
        if (argc > 2 && mn_trainer_save(tr, argv[2], NULL)) return fail(rank, "save");
    }
    mn_trainer_free(tr);
    mn_comm_release(&comm);   /* before MPI_Finalize */
    mn_model_free(m);
    mn_task_free(task);
    MPI_Finalize();
    return 0;
}
