/* csv:FILE — a numeric time series for forecasting (task_series.c). The file is read once
 * in blocks (mn_data_append_file) and parsed in place, line by line; every refusal names
 * file:line:column and what was expected. Cells are separated by ','; a cell may be quoted
 * as RFC 4180 and Python's csv module write it ("YEAR", "a,b", "say ""hi"""), within its
 * line; '\r\n' line ends and blank lines are fine; a first row with any cell that is not a
 * number is the header. */
#include "data.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_COLS 4096

typedef struct {
    const char *path;
    unsigned char *buf;
    size_t len, pos;
    long line;               /* of the row last read, 1-based */
    const char *cell[MAX_COLS];
    size_t cell_len[MAX_COLS];
    int ncell;
} csv_reader;

/* The next non-blank row split into cells (pointers into the buffer, NUL-terminated in
 * place). 0 at the end, 1 with a row, -1 after a failure. */
static int next_row(csv_reader *r) {
    char nb[MN_ESCAPE_CAP];
    while (r->pos < r->len) {
        char *s = (char *)r->buf + r->pos;
        char *nl = memchr(s, '\n', r->len - r->pos);
        size_t n = nl ? (size_t)(nl - s) : r->len - r->pos;
        r->pos += n + (nl != NULL);
        r->line++;
        if (n && s[n - 1] == '\r') n--;
        s[n] = 0;   /* the '\n' or '\r', or the byte after the buffer's end (reserved) */
        size_t k = 0;
        while (k < n && (s[k] == ' ' || s[k] == '\t')) k++;
        if (k == n) continue;   /* blank line */
        r->ncell = 0;
        for (char *c = s;;) {
            if (r->ncell == MAX_COLS) {
                mn_fail(MN_E_INPUT, "%s:%ld: more than %d cells; at most %d columns are read",
                        mn_data_name(nb, sizeof nb, r->path), r->line, MAX_COLS, MAX_COLS);
                return -1;
            }
            char *e;
            if (*c == '"') {   /* RFC 4180 (and Python's csv): "...", "" for a quote */
                char *w = c, *p = c + 1;
                for (;; p++) {
                    if (!*p) {
                        mn_fail(MN_E_INPUT, "%s:%ld: column %d: a quoted cell is not closed on "
                                "its line (cells that span lines are not read)",
                                mn_data_name(nb, sizeof nb, r->path), r->line, r->ncell + 1);
                        return -1;
                    }
                    if (*p == '"' && p[1] != '"') break;
                    *w++ = *p;
                    p += *p == '"';
                }
                for (p++; *p == ' ' || *p == '\t'; p++) {}
                if (*p && *p != ',') {
                    mn_fail(MN_E_INPUT, "%s:%ld: column %d: text after a quoted cell; expected "
                            "',' or the end of the line", mn_data_name(nb, sizeof nb, r->path),
                            r->line, r->ncell + 1);
                    return -1;
                }
                e = *p ? p : NULL;
                *w = 0;
                r->cell[r->ncell] = c;
                r->cell_len[r->ncell++] = (size_t)(w - c);
            } else {
                e = strchr(c, ',');
                r->cell[r->ncell] = c;
                r->cell_len[r->ncell++] = e ? (size_t)(e - c) : strlen(c);
            }
            if (!e) break;
            *e = 0;
            c = e + 1;
        }
        return 1;
    }
    return 0;
}

/* A finite number filling the whole cell (spaces around it allowed). */
static int cell_number(const char *c, double *v) {
    while (*c == ' ' || *c == '\t') c++;
    if (!*c) return 0;
    char *end;
    errno = 0;
    double x = strtod(c, &end);
    if (end == c) return 0;
    while (*end == ' ' || *end == '\t') end++;
    if (*end || !isfinite(x) || fabs(x) > FLT_MAX) return 0;   /* batches are float32 */
    *v = x;
    return 1;
}

/* Why a cell is not a finite number, for the message. */
static const char *cell_problem(const char *c) {
    while (*c == ' ' || *c == '\t') c++;
    if (!*c) return "an empty cell";
    char *end;
    double x = strtod(c, &end);
    if (end != c && !isfinite(x)) return x != x ? "NaN" : "an infinity";
    if (end != c && fabs(x) > FLT_MAX) return "a number beyond float32's range (3.4e38)";
    return NULL;
}

/* Chosen columns: names or 1-based indices separated by ','. */
static mn_status choose(const csv_reader *r, const char *const *head, int ncol,
                        const char *columns, int *pick, int *C) {
    char nb[MN_ESCAPE_CAP], cb[MN_ESCAPE_CAP];
    *C = 0;
    for (const char *p = columns; *p;) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        int found = -1;
        for (int k = 0; head && k < ncol && found < 0; k++)
            if (strlen(head[k]) == n && !strncmp(head[k], p, n)) found = k;
        if (found < 0) {
            char *end;
            long v = strtol(p, &end, 10);
            if (end == p + n && n > 0 && v >= 1 && v <= ncol) found = (int)v - 1;
        }
        if (found < 0) {
            char want[256];
            snprintf(want, sizeof want, "%.*s", (int)(n < 200 ? n : 200), p);
            return mn_fail(MN_E_ARG, "%s has no column \"%s\"; give %s1-based indices up to %d",
                           mn_data_name(nb, sizeof nb, r->path), mn_escape(cb, sizeof cb, want),
                           head ? "names from its header or " : "", ncol);
        }
        if (*C == MAX_COLS) return mn_fail(MN_E_ARG, "too many columns chosen");
        pick[(*C)++] = found;
        p = e ? e + 1 : p + n;
    }
    return *C ? MN_OK : mn_fail(MN_E_ARG, "no columns chosen");
}

/* Rows of the chosen columns appended to *x ([rows,C] floats). */
static mn_status read_rows(csv_reader *r, int ncol, const int *pick, int C, int first_ready,
                           float **x, size_t *rows, size_t *cap) {
    char nb[MN_ESCAPE_CAP], cb[MN_ESCAPE_CAP];
    int got = first_ready ? 1 : next_row(r);
    for (; got == 1; got = next_row(r)) {
        if (r->ncell != ncol)
            return mn_fail(MN_E_INPUT, "%s:%ld: %d cell%s, expected %d as in the first row",
                           mn_data_name(nb, sizeof nb, r->path), r->line, r->ncell,
                           r->ncell == 1 ? "" : "s", ncol);
        if ((*rows + 1) * C > *cap) {
            size_t nc = *cap ? *cap * 2 : (size_t)C * 1024;
            float *p = mn_alloc(nc * sizeof *p);
            if (!p) return MN_E_NOMEM;
            if (*rows) memcpy(p, *x, *rows * C * sizeof *p);
            mn_release(*x);
            *x = p;
            *cap = nc;
        }
        for (int k = 0; k < C; k++) {
            double v;
            if (!cell_number(r->cell[pick[k]], &v)) {
                const char *why = cell_problem(r->cell[pick[k]]);
                return mn_fail(MN_E_INPUT, "%s:%ld:%d: expected a finite number, got %s%s%s%s",
                               mn_data_name(nb, sizeof nb, r->path), r->line, pick[k] + 1,
                               why ? why : "\"", why ? "" : mn_escape(cb, sizeof cb,
                               r->cell[pick[k]]), why ? "" : "\"",
                               why ? "; remove or fill it" : "");
            }
            (*x)[*rows * C + k] = (float)v;
        }
        (*rows)++;
    }
    return got < 0 ? MN_E_INPUT : MN_OK;
}

/* One file: header detection (first file) and its rows. */
static mn_status read_file(const char *path, const char *columns, int first, int *ncol,
                           int *pick, int *C, float **x, size_t *rows, size_t *cap) {
    char nb[MN_ESCAPE_CAP];
    csv_reader *r = mn_alloc_zero(sizeof *r);
    if (!r) return MN_E_NOMEM;
    r->path = path;
    size_t bcap = 0, size = 0;
    /* one spare byte after the data, so the last row can end with a NUL in place */
    mn_status st = mn_data_file_size(path, &size);
    if (!st && !(r->buf = mn_alloc(size + 2))) st = MN_E_NOMEM;
    bcap = size + 2;
    if (!st) st = mn_data_append_file(path, "comma-separated numbers, one row per step",
                                      &r->buf, &r->len, &bcap);
    if (!st && r->len == bcap) {   /* it grew while read: make the room */
        unsigned char *p = mn_alloc(r->len + 1);
        if (!p) st = MN_E_NOMEM;
        else {
            memcpy(p, r->buf, r->len);
            mn_release(r->buf);
            r->buf = p;
        }
    }
    int got = st ? -1 : next_row(r);
    if (!st && got == 0)
        st = mn_fail(MN_E_INPUT, "\"%s\" holds only blank lines; give comma-separated numbers",
                     mn_data_name(nb, sizeof nb, path));
    if (!st && got < 0) st = MN_E_INPUT;
    int header = 0;
    double v;
    for (int k = 0; !st && k < r->ncell; k++) header |= !cell_number(r->cell[k], &v);
    if (!st && first) {
        *ncol = r->ncell;
        const char *head[MAX_COLS];
        for (int k = 0; k < r->ncell; k++) head[k] = r->cell[k];
        /* a header stays in the buffer: name the columns from it, then read on */
        if (columns) st = choose(r, header ? head : NULL, *ncol, columns, pick, C);
        if (!st && header && (got = next_row(r)) != 1)
            st = got < 0 ? MN_E_INPUT
                         : mn_fail(MN_E_INPUT, "\"%s\" has a header and no rows of numbers",
                                   mn_data_name(nb, sizeof nb, path));
        if (!st && !columns) {   /* every column whose first data cell is a number */
            *C = 0;
            for (int k = 0; k < r->ncell && k < *ncol; k++)
                if (cell_number(r->cell[k], &v)) pick[(*C)++] = k;
            if (!*C)
                st = mn_fail(MN_E_INPUT, "%s:%ld: no cell is a number; give numeric columns",
                             mn_data_name(nb, sizeof nb, path), r->line);
        }
        header = 0;
    } else if (!st && header && (got = next_row(r)) != 1) {
        st = got < 0 ? MN_E_INPUT
                     : mn_fail(MN_E_INPUT, "\"%s\" has a header and no rows of numbers",
                               mn_data_name(nb, sizeof nb, path));
    }
    if (!st) st = read_rows(r, *ncol, pick, *C, 1, x, rows, cap);
    mn_release(r->buf);
    mn_release(r);
    return st;
}

/* "mean:std,..." from a task's data_state. */
static mn_status parse_state(const char *s, int C, double *mean, double *std) {
    char nb[MN_ESCAPE_CAP];
    const char *p = s;
    for (int c = 0; c < C; c++) {
        char *e;
        mean[c] = strtod(p, &e);
        if (e == p || *e != ':') break;
        p = e + 1;
        std[c] = strtod(p, &e);
        if (e == p || !isfinite(mean[c]) || !(std[c] > 0) || !isfinite(std[c])) break;
        p = e;
        if (c == C - 1 && !*p) return MN_OK;
        if (*p != ',') break;
        p++;
    }
    return mn_fail(MN_E_INPUT, "the recorded normalization \"%s\" is not %d pairs mean:std "
                   "(std > 0) joined by ','", mn_escape(nb, sizeof nb, s), C);
}

static mn_status csv_open(const mn_data_files *f, uint64_t seed, mn_task **out) {
    if (f->length < 1)
        return mn_fail(MN_E_ARG, "csv data needs a window length (the rows before each "
                       "forecast), at least 1");
    int *pick = mn_alloc(MAX_COLS * sizeof *pick), ncol = 0, C = 0;
    float *x = NULL;
    size_t rows = 0, cap = 0, train_rows = 0;
    if (!pick) return MN_E_NOMEM;
    mn_status st = MN_OK;
    for (int i = 0; i < f->n + f->nv && !st; i++) {
        int vfile = i >= f->n;
        const char *path = vfile ? f->vpaths[i - f->n] : f->paths[i];
        st = read_file(path, f->columns, i == 0, &ncol, pick, &C, &x, &rows, &cap);
        if (i == f->n - 1) train_rows = rows;
    }
    size_t split = f->nv ? train_rows
                         : rows - (size_t)floor(f->valid_fraction * (double)rows + 0.5);
    double *ms = NULL;
    if (!st && f->state) {
        if (!(ms = mn_alloc((size_t)C * 2 * sizeof *ms))) st = MN_E_NOMEM;
        else st = parse_state(f->state, C, ms, ms + C);
    }
    mn_release(pick);
    if (st) {
        mn_release(x);
        mn_release(ms);
        return st;
    }
    st = mn_task_series_create("csv", x, rows, C, split, f->length,
                               f->horizon > 0 ? f->horizon : 1, ms, ms ? ms + C : NULL, seed,
                               out);
    mn_release(ms);
    if (st == MN_E_INPUT) {   /* the series' own checks (rows for a window): name the file */
        char msg[512], nb[MN_ESCAPE_CAP];
        snprintf(msg, sizeof msg, "%s", mn_last_error());
        st = mn_fail(st, "\"%s\": %s", mn_data_name(nb, sizeof nb, f->paths[0]),
                     strncmp(msg, "csv: ", 5) ? msg : msg + 5);
    }
    return st;
}

const mn_data_kind mn_data_csv = {"csv", "csv:FILE", 1, 1, csv_open};
