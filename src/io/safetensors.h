/* safetensors files: 8-byte little-endian header length N, N bytes of JSON header
 * {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
 *  "__metadata__": {"key": "value"}}, then the raw little-endian tensor bytes.
 * The reader validates every entry's structure before handing out a pointer, whatever its
 * dtype (any the format lists); what a tensor's dtype must be is the user's business:
 * mn_st_read_f32 reads the floating-point ones as float32. The writer is atomic. */
#ifndef MN_SAFETENSORS_H
#define MN_SAFETENSORS_H

#include "core.h"

#define MN_ST_MAX_DIMS 8
#define MN_ST_MAX_HEADER 100000000u   /* as the reference implementation (MAX_HEADER_SIZE) */

/* Every dtype of the format (huggingface/safetensors, Dtype). The first five were mnemo's
 * own before the others; the order carries no meaning. */
typedef enum {
    MN_ST_F32, MN_ST_F64, MN_ST_I32, MN_ST_I64, MN_ST_U8,
    MN_ST_BOOL, MN_ST_I8, MN_ST_I16, MN_ST_U16, MN_ST_U32, MN_ST_U64, MN_ST_F16, MN_ST_BF16,
    MN_ST_F8_E4M3, MN_ST_F8_E5M2, MN_ST_F8_E8M0, MN_ST_F8_E4M3FNUZ, MN_ST_F8_E5M2FNUZ,
    MN_ST_F6_E2M3, MN_ST_F6_E3M2, MN_ST_F4, MN_ST_C64,
    MN_ST_NDTYPES
} mn_st_dtype;

const char *mn_st_dtype_name(mn_st_dtype d);   /* "F32"; "?" when out of range */
int mn_st_dtype_bits(mn_st_dtype d);           /* bits per element (4 for F4); 0 if unknown */

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

/* Copies tensor t (count elements, as the caller's shape check established) to dst as
 * float32: F32 as is, F16 and BF16 exactly, F64 rounded to nearest (NaN and infinities
 * kept; a finite value beyond float's range is an error naming the tensor). Any other
 * dtype is an error naming the tensor and its dtype. label names the file. */
mn_status mn_st_read_f32(const mn_st_tensor *t, float *dst, size_t count, const char *label);

typedef struct {
    const char *name;
    mn_st_dtype dtype;
    int ndim;
    const int64_t *shape;
    const void *data;
} mn_st_entry;

/* Writes entries in the given order; meta is "key","value",... ,NULL (or NULL). Any dtype
 * but the sub-byte ones (F4, F6_*).
 * Atomic: a temporary file in the same folder, fsync, rename; nothing is left on failure. */
mn_status mn_st_write(const char *path, const mn_st_entry *entries, int n,
                      const char *const *meta);

#endif
