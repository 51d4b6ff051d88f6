/* source.h -- what every source implementation shares (private). */
#ifndef GW_SOURCE_H
#define GW_SOURCE_H

#include "gw/gw.h"

struct gw_source {
    int (*next)(struct gw_source *src, struct gw_frame *out, uint32_t max);
    void (*close)(struct gw_source *src);
    struct gw_source_info info;
};

#endif
