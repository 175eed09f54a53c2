/* Atomic file writes: a reader sees the old file or the whole new one, never half. */
#ifndef MN_ATOMIC_FILE_H
#define MN_ATOMIC_FILE_H

#include "core.h"

typedef struct {
    const void *data;
    size_t len;
} mn_piece;

/* Writes the pieces in order to a temporary file beside path, fsyncs it, renames it into
 * place and syncs the folder. On failure the temporary file is removed, path is left as
 * it was, and the reason (MN_E_IO, also when path is a directory) is set. Through a
 * symbolic link the file it names is replaced, or made (the link stays); a path that is
 * neither a file nor a folder (a device, a FIFO: /dev/stdout) is opened and written in
 * place, and a link to the file standard output or error already is (/dev/stdout
 * redirected to a file) is written to that open stream. */
mn_status mn_write_atomic(const char *path, const mn_piece *pieces, int n);

#endif
