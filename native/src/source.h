/* source.h -- what every source implementation shares (private). */
#ifndef GW_SOURCE_H
#define GW_SOURCE_H

#include "gw/gw.h"

struct gw_source {
    int (*next)(struct gw_source *src, struct gw_frame *out, uint32_t max);
    void (*close)(struct gw_source *src);
    struct gw_source_info info;
};

/* Open a regular file for reading; on failure writes "path: why" to err
 * and returns -errno (-EINVAL for something that is not a regular file). */
int gw_open_regular(const char *path, uint64_t *size, char *err, size_t errlen);

#endif
