/* mn_write_atomic on paths that are not plain files: a symbolic link keeps pointing to the
 * replaced file, and a FIFO (as /dev/stdout may be) is written in place, not replaced by a
 * plain file. */
#include "test.h"
#include "atomic_file.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int read_all(const char *path, char *buf, size_t cap) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    size_t n = fread(buf, 1, cap, f);
    fclose(f);
    return (int)n;
}

TEST(atomic_write_through_a_link_and_into_a_fifo) {
    char dir[] = "/tmp/mnemo_atomic_XXXXXX", file[64], link[64], fifo[64], buf[64];
    REQUIRE(mkdtemp(dir), "mkdtemp failed");
    snprintf(file, sizeof file, "%s/target", dir);
    snprintf(link, sizeof link, "%s/link", dir);
    snprintf(fifo, sizeof fifo, "%s/fifo", dir);
    mn_piece p[2] = {{"new ", 4}, {"bytes", 5}};

    /* a link to an existing file: the file gets the bytes, the link stays a link */
    mn_piece old = {"old", 3};
    REQUIRE_OK(mn_write_atomic(file, &old, 1));
    REQUIRE(symlink("target", link) == 0, "symlink failed");
    CHECK_OK(mn_write_atomic(link, p, 2));
    struct stat st;
    CHECK(lstat(link, &st) == 0 && S_ISLNK(st.st_mode), "the link was replaced by a file");
    CHECK(read_all(file, buf, sizeof buf) == 9 && !memcmp(buf, "new bytes", 9),
          "the link's target does not hold the new bytes");

    /* a dangling link: the file it names is made, the link stays */
    char dangling[64], made[64];
    snprintf(dangling, sizeof dangling, "%s/dangling", dir);
    snprintf(made, sizeof made, "%s/made", dir);
    REQUIRE(symlink("made", dangling) == 0, "symlink failed");
    CHECK_OK(mn_write_atomic(dangling, p, 2));
    CHECK(lstat(dangling, &st) == 0 && S_ISLNK(st.st_mode), "the dangling link was replaced");
    CHECK(read_all(made, buf, sizeof buf) == 9, "the dangling link's target was not made");

    /* a FIFO with a reader: written in place, still a FIFO after */
    REQUIRE(mkfifo(fifo, 0600) == 0, "mkfifo failed");
    int rd = open(fifo, O_RDONLY | O_NONBLOCK);   /* so the writer's open does not wait */
    REQUIRE(rd >= 0, "cannot open the FIFO to read");
    CHECK_OK(mn_write_atomic(fifo, p, 2));
    CHECK(stat(fifo, &st) == 0 && S_ISFIFO(st.st_mode), "the FIFO was replaced by a file");
    ssize_t got = read(rd, buf, sizeof buf);
    CHECK(got == 9 && !memcmp(buf, "new bytes", 9), "the FIFO's reader got %zd bytes", got);
    close(rd);

    /* no temporary file left beside any of them */
    char tmp[96];
    snprintf(tmp, sizeof tmp, "%s/target.tmp.%ld", dir, (long)getpid());
    CHECK(access(tmp, F_OK) != 0, "a temporary file was left: %s", tmp);
    remove(fifo);
    remove(dangling);
    remove(made);
    remove(link);
    remove(file);
    rmdir(dir);
}
