/* dpdk_api.h -- the DPDK receive backend (module gateway._native_dpdk), also
 * its CFFI cdef: native/build_dpdk.py drops the preprocessor lines other
 * than numeric #define GW_ constants, so only plain structs and prototypes
 * belong here.  A source opened here is a struct gw_source like any other:
 * the main module's decoder pumps it through the pointers in source.h.
 *
 * Errors are -errno (or GW_ECONFIG, -4102, as in gw/api.h) with a one-line
 * message in err. */
#ifndef GW_DPDK_API_H
#define GW_DPDK_API_H

#include <stddef.h>
#include <stdint.h>

struct gw_source;

/* GW_DPDK_BUSY_POLL: an idle next() spins on the queue (lowest latency,
 * burns the core) instead of polling it between short sleeps. */
#define GW_DPDK_BUSY_POLL 1
#define GW_DPDK_MAX_BURST 1024

struct gw_dpdk_config {
    char port[64];         /* ethdev name: a vdev ("net_pcap0", "net_af_xdp0") or a PCI
                              address as the EAL names it ("0000:3b:00.0"); "" = port_id */
    uint32_t port_id;      /* with port "": the ethdev port number */
    uint16_t queue;        /* RX queue read; only 0 (the port is configured with one) */
    uint16_t line;         /* feed line stamped on every frame (A=0, B=1, ...) */
    uint32_t burst;        /* most frames one next() hands out; 0 = 256, at most 1024 */
    uint32_t mbufs;        /* mbuf pool size; 0 = max(8191, what ring, burst and cache need) */
    uint32_t ring_size;    /* RX descriptors asked for, fitted to the device; 0 = 1024 */
    int32_t timeout_ms;    /* how long an idle next() polls before returning 0; 0: not at all */
    uint32_t flags;        /* GW_DPDK_* */
};

/* What the open settled on, and the port's counters now (read from the
 * device by this call). */
struct gw_dpdk_status {
    char port[64];         /* ethdev name */
    char driver[32];       /* PMD, e.g. "net_pcap" */
    uint32_t port_id;
    uint32_t queue;
    uint32_t ring_size;    /* RX descriptors after fitting to the device */
    uint32_t mbufs;        /* pool size */
    int32_t socket;        /* NUMA node of the pool, -1 = any */
    uint32_t _pad;
    uint64_t ipackets;     /* since the open */
    uint64_t ibytes;
    uint64_t imissed;      /* the NIC had no descriptor: the application was too slow */
    uint64_t ierrors;      /* bad frames, or too long for one mbuf */
    uint64_t rx_nombuf;    /* the driver had no mbuf to refill with */
};

/* Start the EAL (rte_eal_init) from a whitespace-separated argument string
 * (no quoting; argv[0] is supplied).  The EAL starts once per process: a
 * second call with the same arguments returns 0, with others -EALREADY.
 * -EINVAL: arguments rejected; -EACCES: privileges; -ENOMEM: memory. */
int gw_dpdk_eal_init(const char *args, char *err, size_t errlen);
/* 1 once the EAL runs in this process, else 0. */
int gw_dpdk_eal_running(void);
/* The ethdev ports the EAL found, names separated by ", "; returns how
 * many (0 before the EAL runs). */
int gw_dpdk_ports(char *out, size_t outlen);

int gw_source_open_dpdk(struct gw_source **out, const struct gw_dpdk_config *cfg, char *err,
                        size_t errlen);
/* -EINVAL if src is not a DPDK source. */
int gw_dpdk_status(struct gw_source *src, struct gw_dpdk_status *out);
/* Release the burst, stop and close the port (DPDK releases a closed port:
 * it cannot be opened again in this process), free the pool. */
void gw_dpdk_close(struct gw_source *src);

#endif
