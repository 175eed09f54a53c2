/* mnemo predict --stream: one output frame per input frame, each written and flushed as
 * soon as its input frame has been read, so a shell pipeline sees it at once
 * (predict_stream.c); and predict --load over a whole input (predict_model.c). */
#ifndef MNEMO_CLI_PREDICT_STREAM_H
#define MNEMO_CLI_PREDICT_STREAM_H

#include "mnemo.h"

/* input: a .npy file, or "-" for raw frames on standard input. raw: binary output.
 * Exit codes as the commands' (0, 1 runtime, 2 usage or input). */
int predict_stream_stack(mn_stack *s, const char *input, int raw);
/* A mnemo model file (mn_model_save, or a training checkpoint). */
int predict_stream_model(const char *path, const char *input, int raw);
/* The model file over the whole input at once, its head's outputs to `output` (.npy);
 * lengths_path: an --lengths file or NULL; json: end stdout with a JSON line. */
int predict_model_whole(const char *load, const char *input, const char *output,
                        const char *lengths_path, int json);

#endif
