/* Temporary file in the same folder (so rename is atomic), fsync, rename, folder fsync:
 * what checkpoints, arrays and plots all need, in one place. A symbolic link's target is
 * what gets replaced; a device or a pipe is written in place. */
#define _XOPEN_SOURCE 700   /* realpath */
#include "atomic_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Makes the rename durable; best effort, as some file systems cannot fsync a folder. */
static void sync_parent(const char *path) {
    const char *slash = strrchr(path, '/');
    char dir[4096];
    if (!slash) snprintf(dir, sizeof dir, ".");
    else if (slash == path) snprintf(dir, sizeof dir, "/");
    else if ((size_t)(slash - path) < sizeof dir)
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    else return;
    int fd = open(dir, O_RDONLY);
    if (fd >= 0) { (void)fsync(fd); close(fd); }
}

/* A device or a pipe (/dev/stdout, a FIFO) cannot be replaced by a rename, and must not
 * be: as root a rename would put a plain file where /dev/full was. It is written in
 * place, as a shell's > would; atomicity means nothing for a stream of bytes. */
static mn_status write_in_place(const char *path, const mn_piece *pieces, int n) {
    FILE *fp = fopen(path, "wb");
    if (!fp) return mn_fail(MN_E_IO, "%s: cannot open: %s", path, strerror(errno));
    int ok = 1;
    for (int i = 0; ok && i < n; i++)
        ok = !pieces[i].len || fwrite(pieces[i].data, 1, pieces[i].len, fp) == pieces[i].len;
    if (ok) ok = fflush(fp) == 0;
    int err = errno;
    if (fclose(fp) && ok) { ok = 0; err = errno; }
    return ok ? MN_OK : mn_fail(MN_E_IO, "%s: cannot write: %s", path, strerror(err));
}

mn_status mn_write_atomic(const char *path, const mn_piece *pieces, int n) {
    struct stat st;
    if (!stat(path, &st)) {
        if (S_ISDIR(st.st_mode))
            return mn_fail(MN_E_IO, "%s: is a directory; give a file name to write", path);
        if (!S_ISREG(st.st_mode)) return write_in_place(path, pieces, n);
    }
    /* a symbolic link to a file: the file is replaced, and the link still points to it */
    char *real = NULL;
    if (!lstat(path, &st) && S_ISLNK(st.st_mode)) real = realpath(path, NULL);
    if (real) path = real;
    size_t plen = strlen(path) + 32;
    char *tmp = mn_alloc(plen);
    if (!tmp) {
        free(real);
        return MN_E_NOMEM;
    }
    snprintf(tmp, plen, "%s.tmp.%ld", path, (long)getpid());
    FILE *fp = fopen(tmp, "wb");
    const char *step = "cannot create temporary file";
    int ok = fp != NULL, created = ok;
    if (ok) step = "cannot write";
    for (int i = 0; ok && i < n; i++)
        ok = !pieces[i].len || fwrite(pieces[i].data, 1, pieces[i].len, fp) == pieces[i].len;
    if (ok) { step = "cannot flush"; ok = fflush(fp) == 0 && fsync(fileno(fp)) == 0; }
    int err = errno;
    if (fp && fclose(fp) && ok) { ok = 0; err = errno; step = "cannot close"; }
    if (ok && rename(tmp, path)) { ok = 0; err = errno; step = "cannot rename into place"; }
    mn_status s = MN_OK;
    if (!ok) {
        if (created) remove(tmp);
        s = mn_fail(MN_E_IO, "%s: %s (%s): %s", path, step, tmp, strerror(err));
    } else {
        sync_parent(path);
    }
    mn_release(tmp);
    free(real);
    return s;
}
