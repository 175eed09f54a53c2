/* Temporary file in the same folder (so rename is atomic), fsync, rename, folder fsync:
 * what checkpoints, arrays and plots all need, in one place. A symbolic link's target is
 * what gets replaced; a device, a pipe or a standard stream is written in place. */
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

/* The standard stream (1 or 2) that is the file st, or 0. */
static int standard_stream(const struct stat *st) {
    for (int fd = 1; fd <= 2; fd++) {
        struct stat s;
        if (!fstat(fd, &s) && s.st_dev == st->st_dev && s.st_ino == st->st_ino) return fd;
    }
    return 0;
}

/* /dev/stdout (or /proc/self/fd/1, /dev/fd/2) when the stream is a file: written to the
 * open stream where it stands, so what the shell's >> or earlier output put there stays.
 * Reopening it would truncate the file, and a rename would unlink it. */
static mn_status write_stream(int fd, const char *path, const mn_piece *pieces, int n) {
    fflush(fd == 1 ? stdout : stderr);
    for (int i = 0; i < n; i++)
        for (size_t done = 0; done < pieces[i].len;) {
            ssize_t k = write(fd, (const char *)pieces[i].data + done, pieces[i].len - done);
            if (k < 0 && errno == EINTR) continue;
            if (k <= 0) return mn_fail(MN_E_IO, "%s: cannot write: %s", path, strerror(errno));
            done += (size_t)k;
        }
    return MN_OK;
}

/* Where a symbolic link leads whose target does not exist yet: its text, from the link's
 * folder when relative (malloc'd; NULL with errno set when it cannot be read). */
static char *link_target(const char *path) {
    char buf[4096];
    ssize_t k = readlink(path, buf, sizeof buf - 1);
    if (k < 0) return NULL;
    buf[k] = 0;
    const char *slash = strrchr(path, '/');
    size_t dir = buf[0] == '/' || !slash ? 0 : (size_t)(slash - path) + 1;
    char *out = malloc(dir + (size_t)k + 1);
    if (!out) return NULL;
    memcpy(out, path, dir);
    memcpy(out + dir, buf, (size_t)k + 1);
    return out;
}

mn_status mn_write_atomic(const char *path, const mn_piece *pieces, int n) {
    struct stat st, lst;
    int link = !lstat(path, &lst) && S_ISLNK(lst.st_mode);
    if (!stat(path, &st)) {
        if (S_ISDIR(st.st_mode))
            return mn_fail(MN_E_IO, "%s: is a directory; give a file name to write", path);
        if (!S_ISREG(st.st_mode)) return write_in_place(path, pieces, n);
        int fd = link ? standard_stream(&st) : 0;
        if (fd) return write_stream(fd, path, pieces, n);
    }
    /* a symbolic link: the file it names is replaced (or made), and the link stays */
    char *real = NULL;
    if (link) {
        real = realpath(path, NULL);
        if (!real && errno == ENOENT) real = link_target(path);
        if (!real)
            return mn_fail(MN_E_IO, "%s: cannot follow the symbolic link: %s", path,
                           strerror(errno));
        path = real;
    }
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
