/* Strict option parsing: see args.h. */
#include "args.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static char last_line[1024];   /* the last error line, for --json (cli_last_error_line) */

static void put_line(const char *msg) {
    char *buf = last_line;
    const size_t cap = sizeof last_line;
    size_t j = 0;
    for (size_t i = 0; msg[i] && j + 1 < cap; i++) {
        char c = msg[i];
        buf[j++] = (c == '\n' || c == '\r' || c == '\t') ? ' ' : c;
    }
    while (j > 0 && buf[j - 1] == ' ') j--;   /* a trailing newline became a space */
    buf[j] = 0;
    fflush(stdout);
    fprintf(stderr, "mnemo: %s\n", buf);
    fflush(stderr);
}

static int vfail(int code, const char *fmt, va_list ap) {
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    put_line(msg);
    return code;
}

int cli_fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int rc = vfail(CLI_EXIT_USAGE, fmt, ap);
    va_end(ap);
    return rc;
}

int cli_fail_code(int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int rc = vfail(code, fmt, ap);
    va_end(ap);
    return rc;
}

const char *cli_last_error_line(void) { return last_line; }

int cli_exit_code(mn_status s) {
    if (s == MN_OK) return CLI_EXIT_OK;
    return (s == MN_E_ARG || s == MN_E_INPUT) ? CLI_EXIT_USAGE : CLI_EXIT_RUNTIME;
}

int cli_lib_fail(mn_status s, const char *context) {
    static const char *const names[] = {"ok", "bad argument", "bad input", "I/O failure",
                                        "out of memory", "NaN or Inf in training",
                                        "call made in the wrong order", "stopped on request"};
    const char *msg = mn_last_error();
    char line[1024];
    if (!msg || !*msg)
        msg = (s >= 0 && s <= MN_E_STOPPED) ? names[s] : "unknown failure";
    if (context && *context)
        snprintf(line, sizeof line, "%s: %s", context, msg);
    else
        snprintf(line, sizeof line, "%s", msg);
    put_line(line);
    return cli_exit_code(s);
}

int cli_wants_help(int argc, char **argv) {
    for (int i = 0; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return 1;
    return 0;
}

cli_opt *cli_find(cli_opt *opts, int nopts, const char *name) {
    for (int i = 0; i < nopts; i++)
        if (!strcmp(opts[i].name, name)) return &opts[i];
    return NULL;
}

int cli_choice(const char *value, const char *const *names) {
    for (int i = 0; names[i]; i++)
        if (!strcmp(value, names[i])) return i;
    return -1;
}

const char *cli_join(char *buf, size_t n, const char *const *names) {
    size_t used = 0;
    buf[0] = 0;
    for (int i = 0; names[i] && used < n; i++) {
        int w = snprintf(buf + used, n - used, "%s%s", i ? ", " : "", names[i]);
        if (w < 0) break;
        used += (size_t)w;
    }
    return buf;
}

/* "12x" style mistakes: say what is accepted and give an example. */
static int bad_value(const char *command, const cli_opt *o, const char *value) {
    char range[160];
    switch (o->kind) {
    case OPT_INT:
        snprintf(range, sizeof range, "a whole number from %lld to %lld", o->imin, o->imax);
        break;
    case OPT_U64:
        snprintf(range, sizeof range, "a whole number from 0 to 18446744073709551615");
        break;
    case OPT_FLOAT:
        if (o->fmax >= FLT_MAX)
            snprintf(range, sizeof range, "a finite number %s %g",
                     o->fmin_open ? "greater than" : "at least", o->fmin);
        else if (o->fmin <= -FLT_MAX)
            snprintf(range, sizeof range, "a finite number at most %g", o->fmax);
        else
            if (o->fmin_open)
            snprintf(range, sizeof range, "a number greater than %g and at most %g", o->fmin,
                     o->fmax);
        else
            snprintf(range, sizeof range, "a number from %g to %g", o->fmin, o->fmax);
        break;
    default:
        snprintf(range, sizeof range, "a non-empty value");
        break;
    }
    if (o->example)
        return cli_fail("%s must be %s, got \"%s\"; for example %s %s", o->name, range,
                        value, o->name, o->example);
    return cli_fail("%s must be %s, got \"%s\"; see 'mnemo %s --help'", o->name, range, value,
                    command);
}

static int parse_value(const char *command, cli_opt *o, const char *v) {
    char *end = NULL;
    switch (o->kind) {
    case OPT_INT: {
        /* Digits only, with an optional leading minus (so "-5" gets the range message). */
        const char *p = v;
        if (*p == '-') p++;
        if (*p < '0' || *p > '9') return bad_value(command, o, v);
        errno = 0;
        long long x = strtoll(v, &end, 10);
        if (*end) return bad_value(command, o, v);
        if (errno == ERANGE || x < o->imin || x > o->imax) return bad_value(command, o, v);
        *(int *)o->dst = (int)x;
        return 0;
    }
    case OPT_U64: {
        if (*v < '0' || *v > '9') return bad_value(command, o, v);
        errno = 0;
        unsigned long long x = strtoull(v, &end, 10);
        if (*end || errno == ERANGE) return bad_value(command, o, v);
        *(uint64_t *)o->dst = (uint64_t)x;
        return 0;
    }
    case OPT_FLOAT: {
        /* Decimal notation only: no leading blanks, no hex, no "inf"/"nan". */
        const char *p = v;
        if (*p == '-' || *p == '+') p++;
        if (!((*p >= '0' && *p <= '9') || (*p == '.' && p[1] >= '0' && p[1] <= '9')))
            return bad_value(command, o, v);
        if (strchr(v, 'x') || strchr(v, 'X')) return bad_value(command, o, v);
        errno = 0;
        double x = strtod(v, &end);
        if (*end || !isfinite(x)) return bad_value(command, o, v);
        if (fabs(x) > FLT_MAX) return bad_value(command, o, v);
        /* Check the float that is stored: "1e-50" is above 0 but becomes 0.0f. */
        float f = (float)x;
        if (o->fmin_open ? !(f > o->fmin) : !(f >= o->fmin)) return bad_value(command, o, v);
        if (!(f <= o->fmax)) return bad_value(command, o, v);
        *(float *)o->dst = f;
        return 0;
    }
    case OPT_STR:
        if (!*v) return bad_value(command, o, v);
        *(const char **)o->dst = v;
        return 0;
    case OPT_FLAG:
        *(int *)o->dst = 1;
        return 0;
    }
    return 0;
}

int cli_parse(const char *command, int argc, char **argv, cli_opt *opts, int nopts) {
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        if (strncmp(arg, "--", 2) != 0 || arg[2] == 0) {
            if (arg[0] == '-' && arg[1] && arg[1] != '-')
                return cli_fail("unknown option \"%s\" for '%s' (options are spelled --name); "
                                "see 'mnemo %s --help'", arg, command, command);
            return cli_fail("unexpected argument \"%s\" for '%s' (every value follows an "
                            "--option); see 'mnemo %s --help'", arg, command, command);
        }
        char name[64];
        const char *eq = strchr(arg, '=');
        const char *value = NULL;
        size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
        if (len >= sizeof name) len = sizeof name - 1;
        memcpy(name, arg, len);
        name[len] = 0;
        cli_opt *o = cli_find(opts, nopts, name);
        if (!o)
            return cli_fail("unknown option \"%s\" for '%s'; see 'mnemo %s --help' for the "
                            "options", name, command, command);
        if (o->given)
            return cli_fail("%s is given twice; give it once", o->name);
        if (o->kind == OPT_FLAG) {
            if (eq)
                return cli_fail("%s takes no value, got \"%s\"; write just %s", o->name,
                                eq + 1, o->name);
        } else if (eq) {
            value = eq + 1;
        } else {
            if (i + 1 >= argc || (strncmp(argv[i + 1], "--", 2) == 0 && argv[i + 1][2]))
                return cli_fail("%s needs a value; for example %s %s", o->name, o->name,
                                o->example ? o->example : o->meta ? o->meta : "VALUE");
            value = argv[++i];
        }
        int rc = parse_value(command, o, value ? value : "");
        if (rc) return rc;
        o->given = 1;
    }
    for (int i = 0; i < nopts; i++)
        if (opts[i].required && !opts[i].given)
            return cli_fail("'%s' needs %s %s; for example %s %s (see 'mnemo %s --help')",
                            command, opts[i].name, opts[i].meta ? opts[i].meta : "VALUE",
                            opts[i].name, opts[i].example ? opts[i].example : "...",
                            command);
    return 0;
}

static void default_text(const cli_opt *o, char *buf, size_t n) {
    buf[0] = 0;
    if (o->required) {
        snprintf(buf, n, "required");
        return;
    }
    if (o->defdesc) {
        if (*o->defdesc) snprintf(buf, n, "default: %s", o->defdesc);
        return;
    }
    switch (o->kind) {
    case OPT_INT: snprintf(buf, n, "default: %d", *(const int *)o->dst); break;
    case OPT_U64:
        snprintf(buf, n, "default: %llu", (unsigned long long)*(const uint64_t *)o->dst);
        break;
    case OPT_FLOAT: snprintf(buf, n, "default: %g", (double)*(const float *)o->dst); break;
    case OPT_STR: {
        const char *s = *(const char *const *)o->dst;
        if (s) snprintf(buf, n, "default: %s", s);
        break;
    }
    case OPT_FLAG: break;
    }
}

void cli_print_options(FILE *f, const cli_opt *opts, int nopts) {
    for (int i = 0; i < nopts; i++) {
        const cli_opt *o = &opts[i];
        char left[64], def[160];
        if (o->kind == OPT_FLAG)
            snprintf(left, sizeof left, "%s", o->name);
        else
            snprintf(left, sizeof left, "%s %s", o->name, o->meta ? o->meta : "VALUE");
        default_text(o, def, sizeof def);
        if (strlen(left) > 22)
            fprintf(f, "  %s\n  %-22s  %s%s%s%s\n", left, "", o->help, *def ? " (" : "", def,
                    *def ? ")" : "");
        else
            fprintf(f, "  %-22s  %s%s%s%s\n", left, o->help, *def ? " (" : "", def,
                    *def ? ")" : "");
    }
}
