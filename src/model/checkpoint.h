/* Checkpoint internals shared by model files (checkpoint.c) and training checkpoints
 * (train_checkpoint.c), which are model files with the trainer's state added. */
#ifndef MN_CHECKPOINT_H
#define MN_CHECKPOINT_H

#include "model.h"
#include "safetensors.h"

/* mn_model_save with up to 4 more tensors (names outside the model's). */
mn_status mn_model_save_with(const mn_model *m, const char *path, const char *const *extra,
                             const mn_st_entry *more, int nmore);
/* Copy a file's parameters into m after checking that the file describes m's architecture;
 * tensors named "optimizer.*" are allowed beside the model's. */
mn_status mn_model_read_params(mn_model *m, const mn_st_file *f, const char *path);

#endif
