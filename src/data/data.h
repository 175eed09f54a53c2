/* Dataset readers behind mn_task_from_data: one file per kind (data_npy.c, data_text.c),
 * one table of kinds (data.c), and the shared helpers for reading files and naming them. */
#ifndef MN_DATA_H
#define MN_DATA_H

#include "core.h"
#include "task.h"

/* The parsed spec: the kind's files, and the separate evaluation files (none: nv 0). */
typedef struct {
    const char *spec;        /* as given, for messages */
    char **paths;
    int n;
    char **vpaths;
    int nv;
    double valid_fraction;   /* the option, default applied */
    int length;
    const char *columns;     /* csv */
    int horizon;             /* csv; 0: 1 */
    const char *state;       /* a data_state to reuse, or NULL */
    const char *labels;      /* fasta: the label file, or NULL */
    int permute;             /* idx */
    const char *tokenizer;   /* text: a tokenizer.json to encode with, or NULL (bytes) */
} mn_data_files;

typedef struct {
    const char *name;        /* "npy" */
    const char *usage;       /* "npy:X.npy,Y.npy[,LENGTHS.npy]" */
    int min_paths, max_paths;
    mn_status (*open)(const mn_data_files *f, uint64_t seed, mn_task **out);
} mn_data_kind;

extern const mn_data_kind mn_data_npy, mn_data_text, mn_data_csv, mn_data_fasta, mn_data_idx;

/* Appends the whole regular file at path to *buf (len bytes used of cap), reading it in
 * blocks of at most 1 MiB; the buffer grows once to the file's size as stat reports it.
 * An empty file is MN_E_INPUT ("path: the file is empty; give ..." with what). */
mn_status mn_data_append_file(const char *path, const char *what, unsigned char **buf,
                              size_t *len, size_t *cap);
/* The size of the regular file at path (MN_E_INPUT naming it when it is not one). */
mn_status mn_data_file_size(const char *path, size_t *size);
/* 1 when gzip files can be read: built with zlib (MN_WITH_ZLIB) and mn_data_pretend_no_zlib
 * is 0 (tests set it to take the refusal's path in a build that has zlib). */
int mn_data_zlib_available(void);
extern int mn_data_pretend_no_zlib;
/* path made safe to quote in a message (mn_escape). */
const char *mn_data_name(char *buf, size_t cap, const char *path);

#endif
