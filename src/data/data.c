/* mn_task_from_data: split "KIND:PATH[,PATH...]", look the kind up in one table, hand it
 * the files; and the file reading shared by the kinds (blocks of 1 MiB, one buffer). */
#include "data.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static const mn_data_kind *const kinds[] = {&mn_data_npy, &mn_data_text, &mn_data_csv,
                                             &mn_data_fasta, &mn_data_idx};
#define NKINDS (sizeof kinds / sizeof kinds[0])

const char *mn_data_kinds(void) { return "npy, text, csv, fasta, idx"; }

void mn_data_options_init(mn_data_options *o) {
    if (!o) return;
    memset(o, 0, sizeof *o);
    o->valid_fraction = -1;
}

const char *mn_data_name(char *buf, size_t cap, const char *path) {
    return mn_escape(buf, cap, path ? path : "(null)");
}

mn_status mn_data_file_size(const char *path, size_t *size) {
    char nb[MN_ESCAPE_CAP];
    struct stat sb;
    if (stat(path, &sb) != 0)
        return mn_fail(MN_E_INPUT, "cannot read \"%s\": %s", mn_data_name(nb, sizeof nb, path),
                       strerror(errno));
    if (!S_ISREG(sb.st_mode))
        return mn_fail(MN_E_INPUT, "\"%s\" is not a regular file; give a data file",
                       mn_data_name(nb, sizeof nb, path));
    *size = (size_t)sb.st_size;
    return MN_OK;
}

/* *buf grown to at least need bytes, its first len kept (a realloc through mn_alloc). */
static mn_status grow_keep(unsigned char **buf, size_t len, size_t *cap, size_t need) {
    if (*buf && *cap >= need) return MN_OK;
    unsigned char *p = mn_alloc(need);
    if (!p) return MN_E_NOMEM;
    if (len) memcpy(p, *buf, len);
    mn_release(*buf);
    *buf = p;
    *cap = need;
    return MN_OK;
}

mn_status mn_data_append_file(const char *path, const char *what, unsigned char **buf,
                              size_t *len, size_t *cap) {
    char nb[MN_ESCAPE_CAP];
    size_t size;
    mn_status st = mn_data_file_size(path, &size);
    if (st) return st;
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return mn_fail(MN_E_INPUT, "cannot open \"%s\": %s", mn_data_name(nb, sizeof nb, path),
                       strerror(errno));
    const size_t start = *len;
    if ((st = grow_keep(buf, *len, cap, *len + (size ? size : 1)))) {
        fclose(fp);
        return mn_fail(MN_E_NOMEM, "no memory to hold \"%s\" (%zu bytes)",
                       mn_data_name(nb, sizeof nb, path), size);
    }
    for (;;) {
        size_t room = *cap - *len;
        if (room == 0) {
            /* at the size stat gave: one byte more tells a file that grew while read */
            int c = fgetc(fp);
            if (c == EOF) break;
            if ((st = grow_keep(buf, *len, cap, *cap + (1u << 20)))) break;
            (*buf)[(*len)++] = (unsigned char)c;
            continue;
        }
        size_t want = room < (1u << 20) ? room : 1u << 20;
        size_t got = fread(*buf + *len, 1, want, fp);
        *len += got;
        if (got < want) break;
    }
    if (!st && ferror(fp))
        st = mn_fail(MN_E_INPUT, "reading \"%s\" failed at byte %zu: %s",
                     mn_data_name(nb, sizeof nb, path), *len - start, strerror(errno));
    fclose(fp);
    if (!st && *len == start)
        st = mn_fail(MN_E_INPUT, "\"%s\" is empty; give a file with %s",
                     mn_data_name(nb, sizeof nb, path), what);
    if (st) *len = start;
    return st;
}

/* "a,b,c" after the colon into n owned strings in *out (one block: the array, then text). */
static mn_status split_paths(const char *list, const char *spec, char ***out, int *n) {
    char nb[MN_ESCAPE_CAP];
    int k = 1;
    for (const char *p = list; *p; p++) k += *p == ',';
    size_t len = strlen(list) + 1;
    char **v = mn_alloc((size_t)k * sizeof *v + len);
    if (!v) return MN_E_NOMEM;
    char *text = (char *)(v + k);
    memcpy(text, list, len);
    for (int i = 0; i < k; i++) {
        v[i] = text;
        char *c = strchr(text, ',');
        if (c) *c = 0;
        if (!*v[i]) {
            mn_release(v);
            return mn_fail(MN_E_ARG, "data \"%s\": path %d of the list is empty; write "
                           "KIND:PATH[,PATH...] without empty entries",
                           mn_data_name(nb, sizeof nb, spec), i + 1);
        }
        text = c ? c + 1 : text + strlen(text);
    }
    *out = v;
    *n = k;
    return MN_OK;
}

static mn_status parse_spec(const char *spec, const char *role, const mn_data_kind **kind,
                            char ***paths, int *n) {
    char nb[MN_ESCAPE_CAP];
    const char *colon = spec ? strchr(spec, ':') : NULL;
    if (!colon)
        return mn_fail(MN_E_ARG, "%s \"%s\" has no kind; write KIND:PATH[,PATH...] with KIND "
                       "one of %s", role, mn_data_name(nb, sizeof nb, spec), mn_data_kinds());
    *kind = NULL;
    for (size_t i = 0; i < NKINDS; i++)
        if (strlen(kinds[i]->name) == (size_t)(colon - spec) &&
            !strncmp(spec, kinds[i]->name, (size_t)(colon - spec)))
            *kind = kinds[i];
    if (!*kind)
        return mn_fail(MN_E_ARG, "%s \"%s\": unknown kind; the kinds are %s", role,
                       mn_data_name(nb, sizeof nb, spec), mn_data_kinds());
    if (!colon[1])
        return mn_fail(MN_E_ARG, "%s \"%s\" names no file; write %s", role,
                       mn_data_name(nb, sizeof nb, spec), (*kind)->usage);
    mn_status st = split_paths(colon + 1, spec, paths, n);
    if (st) return st;
    if (*n < (*kind)->min_paths || *n > (*kind)->max_paths) {
        mn_release(*paths);
        *paths = NULL;
        return mn_fail(MN_E_ARG, "%s \"%s\" names %d file%s; write %s", role,
                       mn_data_name(nb, sizeof nb, spec), *n, *n == 1 ? "" : "s",
                       (*kind)->usage);
    }
    return MN_OK;
}

mn_status mn_task_from_data(const char *spec, const mn_data_options *opt, uint64_t seed,
                            mn_task **out) {
    if (!out) return mn_fail(MN_E_ARG, "mn_task_from_data: out is NULL");
    *out = NULL;
    mn_data_options def;
    mn_data_options_init(&def);
    if (!opt) opt = &def;
    if (!(opt->valid_fraction < 1))   /* NaN too */
        return mn_fail(MN_E_ARG, "the validation fraction must be below 1, got %g",
                       opt->valid_fraction);
    if (opt->horizon < 0)
        return mn_fail(MN_E_ARG, "the forecast horizon must be at least 1, got %d", opt->horizon);
    if (opt->length < 0)
        return mn_fail(MN_E_ARG, "the window length must be at least 1, got %d", opt->length);
    mn_data_files f = {spec, NULL, 0, NULL, 0, opt->valid_fraction < 0 ? 0.1 : opt->valid_fraction,
                       opt->length, opt->columns, opt->horizon, opt->state, opt->labels,
                       opt->permute, opt->tokenizer};
    const mn_data_kind *kind, *vkind;
    mn_status st = parse_spec(spec, "data", &kind, &f.paths, &f.n);
    if (!st && opt->valid_spec) {
        char nb[MN_ESCAPE_CAP];
        st = parse_spec(opt->valid_spec, "validation data", &vkind, &f.vpaths, &f.nv);
        if (!st && vkind != kind)
            st = mn_fail(MN_E_ARG, "validation data \"%s\" is of another kind than the data "
                         "(%s); give %s files", mn_data_name(nb, sizeof nb, opt->valid_spec),
                         kind->name, kind->name);
    }
    if (!st && opt->tokenizer && kind != &mn_data_text)
        st = mn_fail(MN_E_ARG, "a tokenizer encodes text data, and the data is %s:; drop the "
                     "tokenizer or give text:FILE", kind->name);
    mn_task *t = NULL;
    if (!st) st = kind->open(&f, seed, &t);
    if (!st) {
        size_t n = strlen(spec) + 1;
        if (!(t->spec = mn_alloc(n))) st = MN_E_NOMEM;
        else {
            memcpy(t->spec, spec, n);
            t->info.data_spec = t->spec;
        }
    }
    mn_release(f.paths);
    mn_release(f.vpaths);
    if (st) {
        mn_task_free(t);
        return st;
    }
    *out = t;
    return MN_OK;
}
