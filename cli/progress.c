/* Output helpers: see progress.h. */
#include "progress.h"
#include "args.h"

#include <math.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

double cli_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

const char *fmt_duration(char *buf, size_t n, double s) {
    if (!isfinite(s) || s < 0) {
        snprintf(buf, n, "?");
    } else if (s < 10) {
        snprintf(buf, n, "%.1fs", s);
    } else if (s < 60) {
        snprintf(buf, n, "%.0fs", s);
    } else if (s < 3600) {
        long t = lround(s);
        snprintf(buf, n, "%ldm%02lds", t / 60, t % 60);
    } else {
        long t = lround(s / 60);
        snprintf(buf, n, "%ldh%02ldm", t / 60, t % 60);
    }
    return buf;
}

const char *fmt_si(char *buf, size_t n, double x) {
    static const char *const suffix[] = {"", "k", "M", "G", "T", "P"};
    int k = 0;
    if (!isfinite(x)) {
        snprintf(buf, n, "?");
        return buf;
    }
    while (fabs(x) >= 999.5 && k < 5) {
        x /= 1000;
        k++;
    }
    if (k == 0)
        snprintf(buf, n, "%.0f", x);
    else
        snprintf(buf, n, fabs(x) < 9.995 ? "%.2f%s" : fabs(x) < 99.95 ? "%.1f%s" : "%.0f%s", x,
                 suffix[k]);
    return buf;
}

const char *fmt_bytes(char *buf, size_t n, double b) {
    static const char *const unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int k = 0;
    while (b >= 1024 && k < 4) {
        b /= 1024;
        k++;
    }
    if (k == 0)
        snprintf(buf, n, "%.0f B", b);
    else
        snprintf(buf, n, "%.1f %s", b, unit[k]);
    return buf;
}

void progress_init(progress *p, FILE *f) {
    p->f = f;
    p->tty = isatty(fileno(f));
    p->drawn = 0;
    p->last_draw = -1e30;
}

void progress_show(progress *p, const char *line) {
    int len = (int)strlen(line);
    if (p->tty) {
        /* Pad with blanks over what the previous, longer line left on screen. */
        int pad = p->drawn > len ? p->drawn - len : 0;
        fprintf(p->f, "\r%s%*s", line, pad, "");
        if (pad) fprintf(p->f, "\r%s", line);
        p->drawn = len;
    } else {
        fprintf(p->f, "%s\n", line);
    }
    fflush(p->f);
    p->last_draw = cli_now();
}

void progress_line(progress *p, const char *line) {
    if (p->tty && p->drawn) {
        fprintf(p->f, "\r%*s\r", p->drawn, "");
        p->drawn = 0;
    }
    fprintf(p->f, "%s\n", line);
    fflush(p->f);
}

void progress_end(progress *p) {
    if (p->tty && p->drawn) fputc('\n', p->f);
    p->drawn = 0;
    fflush(p->f);
}

/* ------------------------------------------------------------------ JSON */

static void json_key(json_obj *j, const char *key) {
    fputs(j->n++ ? ",\"" : "\"", j->f);
    fputs(key, j->f);   /* keys are our own identifiers: no escaping needed */
    fputs("\":", j->f);
}

static void json_escaped(FILE *f, const char *s) {
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        default:
            if (*p < 0x20)
                fprintf(f, "\\u%04x", *p);
            else
                fputc(*p, f);
        }
    }
    fputc('"', f);
}

void json_begin(json_obj *j, FILE *f) {
    j->f = f;
    j->n = 0;
    fputc('{', f);
}

void json_str(json_obj *j, const char *key, const char *value) {
    json_key(j, key);
    if (value)
        json_escaped(j->f, value);
    else
        fputs("null", j->f);
}

void json_num(json_obj *j, const char *key, double value) {
    json_key(j, key);
    if (isfinite(value))
        fprintf(j->f, "%.6g", value);
    else
        fputs("null", j->f);
}

void json_int(json_obj *j, const char *key, long long value) {
    json_key(j, key);
    fprintf(j->f, "%lld", value);
}

void json_u64(json_obj *j, const char *key, uint64_t value) {
    json_key(j, key);
    fprintf(j->f, "%llu", (unsigned long long)value);
}

void json_bool(json_obj *j, const char *key, int value) {
    json_key(j, key);
    fputs(value ? "true" : "false", j->f);
}

void json_null(json_obj *j, const char *key) {
    json_key(j, key);
    fputs("null", j->f);
}

void json_num_array(json_obj *j, const char *key, const double *v, int n) {
    json_key(j, key);
    fputc('[', j->f);
    for (int i = 0; i < n; i++) {
        if (i) fputc(',', j->f);
        if (isfinite(v[i])) fprintf(j->f, "%.6g", v[i]);
        else fputs("null", j->f);
    }
    fputc(']', j->f);
}

json_obj json_child(json_obj *j, const char *key) {
    json_key(j, key);
    fputc('{', j->f);
    return (json_obj){j->f, 0};
}

void json_close(json_obj *child) { fputc('}', child->f); }

void json_array_open(json_obj *j, const char *key) {
    json_key(j, key);
    fputc('[', j->f);
}

json_obj json_array_item(json_obj *j, int index) {
    fputs(index ? ",{" : "{", j->f);
    return (json_obj){j->f, 0};
}

void json_array_close(json_obj *j) { fputc(']', j->f); }

void json_str_array(json_obj *j, const char *key, const char *const *v, int n) {
    json_key(j, key);
    fputc('[', j->f);
    for (int i = 0; i < n; i++) {
        if (i) fputc(',', j->f);
        json_escaped(j->f, v[i]);
    }
    fputc(']', j->f);
}

void json_end(json_obj *j) {
    fputs("}\n", j->f);
    fflush(j->f);
}

static int json_armed;

void cli_json_arm(int on) { json_armed = on; }
int cli_json_armed(void) { return json_armed; }

void json_failure_begin(json_obj *j, const char *command, int exit_code) {
    json_armed = 0;
    fflush(stderr);
    json_begin(j, stdout);
    json_str(j, "command", command);
    json_str(j, "error", cli_last_error_line());
    json_int(j, "exit_code", exit_code);
}

const char *cli_model_desc(const mn_model_config *mc, char *buf, size_t cap) {
    if (mc->num_blocks > 0) {
        int n = mc->encoder_blocks > 0
                    ? snprintf(buf, cap, "encoder-decoder (the first %d blocks encode), blocks ",
                               mc->encoder_blocks)
                    : snprintf(buf, cap, "blocks ");
        if (n > 0 && (size_t)n < cap) mn_blocks_format(mc, buf + n, cap - (size_t)n);
    } else {
        snprintf(buf, cap, "%s, hidden %d, %d layer%s%s", mn_cell_name(mc->cell), mc->hidden_size,
                 mc->num_layers, mc->num_layers > 1 ? "s" : "",
                 mc->bidirectional ? ", bidirectional" : "");
    }
    return buf;
}

void json_model(json_obj *j, const mn_model_config *mc) {
    char spec[MN_MAX_BLOCKS * 48];
    json_str(j, "model", mc->num_blocks > 0 ? "blocks" : mn_cell_name(mc->cell));
    if (mc->num_blocks > 0) {
        mn_blocks_format(mc, spec, sizeof spec);
        json_str(j, "blocks", spec);
        if (mc->encoder_blocks > 0) json_int(j, "encoder_blocks", mc->encoder_blocks);
    }
    if (mc->num_blocks > 0) {   /* widths are per block, in the spec */
        int bidir = 0;
        for (int k = 0; k < mc->num_blocks; k++) bidir |= mc->blocks[k].bidirectional;
        json_int(j, "layers", mc->num_blocks);
        json_bool(j, "bidirectional", bidir);
        return;
    }
    json_int(j, "hidden", mc->hidden_size);
    json_int(j, "layers", mc->num_layers);
    json_bool(j, "bidirectional", mc->bidirectional);
}
