/* xdp_api.h -- the AF_XDP backend (module gateway._native_xdp), also its
 * CFFI cdef.  A source opened here is a struct gw_source like any other. */
#ifndef GW_XDP_API_H
#define GW_XDP_API_H

#include <stddef.h>
#include <stdint.h>

struct gw_source;

#define GW_XDP_MODE_SKB 1      /* generic XDP: any driver, copy mode */
#define GW_XDP_MODE_NATIVE 2   /* driver XDP: zero-copy where the driver allows */
#define GW_XDP_BUSY_POLL 1     /* SO_PREFER_BUSY_POLL + SO_BUSY_POLL + budget */
#define GW_XDP_FORCE_COPY 2    /* do not try zero-copy */
#define GW_XDP_MAX_FEEDS 32
#define GW_XDP_MAX_QUEUES 8

struct gw_xdp_feed {
    uint32_t addr;         /* destination IPv4, network order (a group, or a local address) */
    uint16_t port;         /* destination port, host order */
    uint16_t line;
    uint32_t join;         /* 1: a multicast group to join on the interface */
};

struct gw_xdp_config {
    char interface[16];
    uint32_t nqueues;      /* receive queues: one AF_XDP socket each, one shared UMEM */
    uint32_t queues[8];
    uint32_t mode;         /* GW_XDP_MODE_* */
    uint32_t flags;        /* GW_XDP_* */
    uint32_t frames;       /* UMEM frames; 0 = 4096 */
    uint32_t frame_size;   /* 2048 or 4096; 0 = 4096 */
    uint32_t busy_poll_us; /* SO_BUSY_POLL; 0 = 20 */
    uint32_t busy_budget;  /* SO_BUSY_POLL_BUDGET; 0 = 64 */
    int32_t timeout_ms;    /* how long next() waits when nothing is ready */
    uint32_t nfeeds;
    struct gw_xdp_feed feeds[32];
};

/* What the open settled on, for the report. */
struct gw_xdp_status {
    uint32_t zerocopy;     /* 1 zero-copy, 0 copy mode */
    uint32_t mode;         /* GW_XDP_MODE_* attached */
    uint32_t need_wakeup;
    uint32_t busy_poll;
    uint64_t no_meta;      /* frames without the program's metadata (stamped in userspace) */
    uint64_t rx_dropped, rx_invalid, rx_ring_full, fill_ring_empty;
};

int gw_source_open_xdp(struct gw_source **out, const struct gw_xdp_config *cfg, char *err,
                       size_t errlen);
int gw_xdp_status(struct gw_source *src, struct gw_xdp_status *out);

#endif
