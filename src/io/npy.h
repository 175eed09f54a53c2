/* .npy internals shared by the file reader (npy.c) and its header parser (npy_header.c). */
#ifndef MN_NPY_H
#define MN_NPY_H

#include "core.h"

typedef struct {
    mn_array_dtype dtype;
    int big_endian;            /* data bytes are big-endian ('>f4'): swapped when read */
    int fortran;               /* data is column-major (fortran_order True): transposed */
    int ndim;
    int64_t shape[MN_ARRAY_MAX_DIMS];
    size_t count, nbytes;
    size_t data_offset;        /* magic + length field + header */
} mn_npy_header;

/* Parses the header text (the Python dict after the length field) of a file of format
 * version major (1, 2 or 3) into h's dtype, byte order, order, shape, count and nbytes.
 * label names the file in messages. */
/* Bytes of one element: 4 for float32 and int32, 8 for int64. */
size_t mn_npy_dtype_size(mn_array_dtype d);

mn_status mn_npy_parse_header(const char *label, const char *text, size_t len, int major,
                              mn_npy_header *h);

#endif
