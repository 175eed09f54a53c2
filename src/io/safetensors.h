/* safetensors files: 8-byte little-endian header length N, N bytes of JSON header
 * {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
 *  "__metadata__": {"key": "value"}}, then the raw little-endian tensor bytes.
 * The reader validates everything before handing out a pointer; the writer is atomic. */
#ifndef MN_SAFETENSORS_H
#define MN_SAFETENSORS_H

#include "core.h"

#define MN_ST_MAX_DIMS 8
#define MN_ST_MAX_HEADER (100u << 20)   /* 100 MiB, as the reference implementation */

typedef enum { MN_ST_F32, MN_ST_F64, MN_ST_I32, MN_ST_I64, MN_ST_U8 } mn_st_dtype;

typedef struct {
    const char *name;
    mn_st_dtype dtype;
    int ndim;
    int64_t shape[MN_ST_MAX_DIMS];
    size_t numel;
    size_t nbytes;
    const void *data;        /* inside the file's buffer; 8-byte alignment not promised */
} mn_st_tensor;

typedef struct mn_st_file mn_st_file;

mn_status mn_st_read(const char *path, mn_st_file **out);
mn_status mn_st_parse(const void *bytes, size_t len, mn_st_file **out); /* copies bytes */
void mn_st_free(mn_st_file *f);
int mn_st_count(const mn_st_file *f);
const mn_st_tensor *mn_st_at(const mn_st_file *f, int i);
const mn_st_tensor *mn_st_find(const mn_st_file *f, const char *name);
const char *mn_st_meta(const mn_st_file *f, const char *key);   /* NULL if absent */
int mn_st_meta_count(const mn_st_file *f);
void mn_st_meta_at(const mn_st_file *f, int i, const char **key, const char **value);

typedef struct {
    const char *name;
    mn_st_dtype dtype;
    int ndim;
    const int64_t *shape;
    const void *data;
} mn_st_entry;

/* Writes entries in the given order; meta is "key","value",... ,NULL (or NULL).
 * Atomic: a temporary file in the same folder, fsync, rename; nothing is left on failure. */
mn_status mn_st_write(const char *path, const mn_st_entry *entries, int n,
                      const char *const *meta);

#endif
