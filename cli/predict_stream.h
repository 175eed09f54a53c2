/* mnemo predict --stream: one output frame per input frame, each written and flushed as
 * soon as its input frame has been read, so a shell pipeline sees it at once. */
#ifndef MNEMO_CLI_PREDICT_STREAM_H
#define MNEMO_CLI_PREDICT_STREAM_H

#include "mnemo.h"

/* input: a .npy file, or "-" for raw frames on standard input. raw: binary output.
 * Exit codes as the commands' (0, 1 runtime, 2 usage or input). */
int predict_stream_stack(mn_stack *s, const char *input, int raw);
/* A mnemo model file (mn_model_save, or a training checkpoint). */
int predict_stream_model(const char *path, const char *input, int raw);

#endif
