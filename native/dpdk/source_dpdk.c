/*
 * source_dpdk.c -- a DPDK ethdev receive queue as a burst source.
 *
 * Theory of operation
 * -------------------
 * The EAL starts once per process (rte_eal_init cannot be undone or run
 * twice), from an argument string the caller gives: hugepages or
 * --no-huge, the lcores, the vdevs (net_pcap, net_af_xdp, net_af_packet)
 * or the PCI devices.  It pins the calling thread to the main lcore.
 * While it starts, and for the rest of the process, DPDK's log goes
 * through a stream of ours that writes to stderr (as DPDK's own does) and
 * keeps the last error-level line, so a failure comes back as one line
 * saying what DPDK said rather than a bare errno.
 *
 * A source owns one port: configured with one RX queue (and one TX queue,
 * which some PMDs insist on), an mbuf pool of its own sized from the ring
 * and the burst, promiscuous and all-multicast on where the PMD has them
 * (a feed is multicast; a PMD without the modes is not an error).
 *
 * next() first hands the previous burst's mbufs back (rte_pktmbuf_free_bulk:
 * this is the release of the burst the source interface promises), then
 * takes up to a burst with rte_eth_rx_burst.  Frames point at the mbuf
 * data in place -- nothing copies a packet -- and all of a burst share one
 * CLOCK_REALTIME reading taken right after it arrived (the one clock).  A
 * frame that spans several mbufs (longer than one data room, with
 * scattered RX) is dropped and counted as snapped: the decoder reads a
 * frame as one run of bytes.  With nothing on the queue, next() polls it
 * for up to timeout_ms -- DPDK has no file descriptor to sleep on -- in
 * short sleeps, or spinning with GW_DPDK_BUSY_POLL, then returns 0.
 *
 * What was lost before the source saw it lives in the port's counters:
 * rte_eth_stats_get() -- a device read on real NICs, so at most once a
 * millisecond, busy or idle (gw_dpdk_status() reads them at once) -- gives
 * nic_drops = imissed + rx_nombuf + ierrors since the open.
 *
 * This module is its own shared object: it calls nothing of the main
 * module (gw_clock_realtime_ns and friends live there), only the inline
 * helpers of gw/gw.h and DPDK.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* fopencookie */
#endif
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_log.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_pause.h>

#include "gw/gw.h"
#include "source.h"
#include "dpdk_api.h"

#define MAX_ARGS 128
#define ARGS_LEN 4096
#define DEFAULT_BURST 256
#define DEFAULT_RING 1024
#define DEFAULT_MBUFS 8191   /* 2^n - 1: what the mempool ring holds best */
#define TX_RING 64           /* the TX queue only exists to satisfy PMDs */
#define STATS_EVERY_NS 1000000
#define IDLE_SLEEP_NS 20000  /* between polls of an idle queue, without BUSY_POLL */
#define MAX_CLOSED 32

/* ---- process-wide state: the EAL, the log, the ports in use ----------- */

static struct {
    pthread_mutex_t lock;
    int running;                /* rte_eal_init succeeded */
    char args[ARGS_LEN];        /* its arguments, one space between */
    char argbuf[ARGS_LEN];      /* argv's strings: kept, the EAL may keep pointers */
    char *argv[MAX_ARGS + 2];
    FILE *log;
    char last_error[256];       /* last DPDK log line at error level or worse */
    uint8_t busy[RTE_MAX_ETHPORTS];
    char closed[MAX_CLOSED][RTE_ETH_NAME_MAX_LEN]; /* ports closed here: gone for good */
    unsigned nclosed;
    unsigned pools;             /* pool names must be unique */
} eal = {.lock = PTHREAD_MUTEX_INITIALIZER};

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static ssize_t log_write(void *cookie, const char *buf, size_t size)
{
    (void)cookie;
    int level = rte_log_cur_msg_loglevel();
    if (level > 0 && level <= (int)RTE_LOG_ERR) {
        size_t n = size;
        while (n && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
            n--;
        if (n >= sizeof(eal.last_error))
            n = sizeof(eal.last_error) - 1;
        pthread_mutex_lock(&log_lock);
        for (size_t i = 0; i < n; i++) /* one line, whatever DPDK wrote */
            eal.last_error[i] = buf[i] == '\n' || buf[i] == '\t' ? ' ' : buf[i];
        eal.last_error[n] = 0;
        pthread_mutex_unlock(&log_lock);
    }
    fwrite(buf, 1, size, stderr);
    fflush(stderr);
    return (ssize_t)size;
}

static void log_clear(void)
{
    pthread_mutex_lock(&log_lock);
    eal.last_error[0] = 0;
    pthread_mutex_unlock(&log_lock);
}

/* Write "what: why" to err, with DPDK's own last error line when it said
 * something since log_clear(); returns rc. */
static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
    char what[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&log_lock);
    if (eal.last_error[0])
        snprintf(err, errlen, "%s (DPDK said: %s)", what, eal.last_error);
    else
        snprintf(err, errlen, "%s", what);
    pthread_mutex_unlock(&log_lock);
    return rc;
}

static int64_t clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- EAL ---------------------------------------------------------------- */

/* Split args at whitespace into eal.argv (after argv[0]) and the
 * normalised string into norm; returns argc or -EINVAL. */
static int split_args(const char *args, char *norm, size_t normlen)
{
    size_t len = strlen(args);
    if (len >= ARGS_LEN)
        return -EINVAL;
    memcpy(eal.argbuf, args, len + 1);
    int argc = 0;
    eal.argv[argc++] = (char *)"gateway";
    norm[0] = 0;
    size_t at = 0;
    for (char *save = NULL, *tok = strtok_r(eal.argbuf, " \t\r\n", &save); tok;
         tok = strtok_r(NULL, " \t\r\n", &save)) {
        if (argc > MAX_ARGS)
            return -EINVAL;
        eal.argv[argc++] = tok;
        at += (size_t)snprintf(norm + at, normlen - at, "%s%s", at ? " " : "", tok);
    }
    eal.argv[argc] = NULL;
    return argc;
}

int gw_dpdk_eal_init(const char *args, char *err, size_t errlen)
{
    char norm[ARGS_LEN];
    int rc = 0;
    pthread_mutex_lock(&eal.lock);
    if (eal.running) {
        /* Compare normalised: spacing is not a different request. */
        char *scratch = malloc(ARGS_LEN);
        if (!scratch) {
            rc = -ENOMEM;
            goto out;
        }
        size_t len = strlen(args ? args : "");
        int same = 0;
        if (len < ARGS_LEN) {
            size_t at = 0;
            memcpy(scratch, args ? args : "", len + 1);
            norm[0] = 0;
            for (char *save = NULL, *tok = strtok_r(scratch, " \t\r\n", &save); tok;
                 tok = strtok_r(NULL, " \t\r\n", &save))
                at += (size_t)snprintf(norm + at, sizeof(norm) - at, "%s%s", at ? " " : "", tok);
            same = strcmp(norm, eal.args) == 0;
        }
        free(scratch);
        if (!same)
            rc = fail(err, errlen, -EALREADY,
                      "the DPDK EAL starts once per process and already runs with '%s'",
                      eal.args);
        goto out;
    }
    int argc = split_args(args ? args : "", norm, sizeof(norm));
    if (argc < 0) {
        rc = fail(err, errlen, -EINVAL, "DPDK EAL arguments: more than %d or longer than %d bytes",
                  MAX_ARGS, ARGS_LEN - 1);
        goto out;
    }
    if (!eal.log) {
        cookie_io_functions_t io = {.write = log_write};
        eal.log = fopencookie(NULL, "w", io);
        if (eal.log)
            rte_openlog_stream(eal.log);
    }
    log_clear();
    /* The EAL prints (its usage text on a bad option, above all) with
     * printf; stdout is the program's -- a report, JSON -- so point it at
     * stderr while the EAL starts. */
    fflush(stdout);
    int saved_stdout = dup(STDOUT_FILENO);
    if (saved_stdout >= 0)
        dup2(STDERR_FILENO, STDOUT_FILENO);
    int parsed = rte_eal_init(argc, eal.argv);
    if (saved_stdout >= 0) {
        fflush(stdout);
        dup2(saved_stdout, STDOUT_FILENO);
        close(saved_stdout);
    }
    if (parsed < 0) {
        int e = rte_errno;
        switch (e) {
        case EACCES:
        case EPERM:
            /* Hugepage trouble comes back as EACCES too: as root, that is
             * what it must be. */
            if (geteuid() == 0)
                rc = fail(err, errlen, -e,
                          "DPDK EAL: cannot use hugepages: mount hugetlbfs and reserve some "
                          "(echo 512 > /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages), "
                          "or pass --no-huge -m 256");
            else
                rc = fail(err, errlen, -e,
                          "DPDK EAL: permission denied: run as root, or with CAP_NET_ADMIN, "
                          "CAP_NET_RAW and CAP_IPC_LOCK (and hugepages, or --no-huge)");
            break;
        case ENOMEM:
        case ENODEV:
            rc = fail(err, errlen, -ENOMEM,
                      "DPDK EAL: no memory: reserve hugepages (echo 512 > /sys/kernel/mm/"
                      "hugepages/hugepages-2048kB/nr_hugepages) or pass --no-huge -m 256");
            break;
        case EALREADY:
            rc = fail(err, errlen, -EALREADY,
                      "the DPDK EAL failed to start earlier in this process and starts once "
                      "per process: restart the process");
            break;
        case EINVAL:
            rc = fail(err, errlen, -EINVAL, "DPDK EAL rejected the arguments '%s'", norm);
            break;
        default:
            rc = fail(err, errlen, e > 0 ? -e : -EIO, "DPDK EAL did not start: %s",
                      rte_strerror(e));
        }
        goto out;
    }
    eal.running = 1;
    snprintf(eal.args, sizeof(eal.args), "%s", norm);
    if (parsed + 1 < argc)
        /* A stray word is not an EAL option; the EAL runs regardless (it
         * cannot be stopped and restarted), so say so and carry on. */
        rc = fail(err, errlen, -EINVAL,
                  "DPDK EAL arguments: '%s' is not an EAL option (the EAL started anyway)",
                  eal.argv[parsed + 1]);
out:
    pthread_mutex_unlock(&eal.lock);
    return rc;
}

int gw_dpdk_eal_running(void)
{
    pthread_mutex_lock(&eal.lock);
    int r = eal.running;
    pthread_mutex_unlock(&eal.lock);
    return r;
}

static int list_ports(char *out, size_t outlen)
{
    int n = 0;
    size_t at = 0;
    uint16_t p;
    if (outlen)
        out[0] = 0;
    RTE_ETH_FOREACH_DEV(p) {
        char name[RTE_ETH_NAME_MAX_LEN];
        if (rte_eth_dev_get_name_by_port(p, name) != 0)
            continue;
        if (at < outlen)
            at += (size_t)snprintf(out + at, outlen - at, "%s%s", n ? ", " : "", name);
        n++;
    }
    return n;
}

int gw_dpdk_ports(char *out, size_t outlen)
{
    if (outlen)
        out[0] = 0;
    if (!gw_dpdk_eal_running())
        return 0;
    return list_ports(out, outlen);
}

/* ---- the source ----------------------------------------------------------- */

struct dpdk_src {
    struct gw_source base;
    uint16_t port, queue;
    uint16_t line;
    uint32_t burst;
    int timeout_ms;
    uint32_t flags;
    struct rte_mempool *pool;
    struct gw_dpdk_status status;
    struct rte_eth_stats base_stats;  /* counters at the open: the port may have run before */
    int64_t stats_ns;                 /* CLOCK_REALTIME of the last counter read */
    uint32_t nheld;
    struct rte_mbuf *held[];          /* the burst handed out: freed by the next call */
};

static inline uint64_t since(uint64_t now, uint64_t then) { return now >= then ? now - then : now; }

static void read_stats(struct dpdk_src *s, int64_t now)
{
    struct rte_eth_stats st;
    s->stats_ns = now;
    if (rte_eth_stats_get(s->port, &st) != 0)
        return;
    struct gw_dpdk_status *o = &s->status;
    o->ipackets = since(st.ipackets, s->base_stats.ipackets);
    o->ibytes = since(st.ibytes, s->base_stats.ibytes);
    o->imissed = since(st.imissed, s->base_stats.imissed);
    o->ierrors = since(st.ierrors, s->base_stats.ierrors);
    o->rx_nombuf = since(st.rx_nombuf, s->base_stats.rx_nombuf);
    s->base.info.nic_drops = o->imissed + o->rx_nombuf + o->ierrors;
    s->base.info.bytes_read = o->ibytes;
}

static inline void release_burst(struct dpdk_src *s)
{
    if (s->nheld) {
        rte_pktmbuf_free_bulk(s->held, s->nheld);
        s->nheld = 0;
    }
}

/* Poll an idle queue until something arrives or timeout_ms passes. */
static uint16_t wait_burst(struct dpdk_src *s, uint16_t max)
{
    const struct timespec nap = {0, IDLE_SLEEP_NS};
    int64_t deadline = clock_ns(CLOCK_MONOTONIC) + (int64_t)s->timeout_ms * 1000000;
    s->base.info.polls++;
    for (;;) {
        if (s->flags & GW_DPDK_BUSY_POLL) {
            for (int i = 0; i < 64; i++)
                rte_pause();
        } else {
            nanosleep(&nap, NULL);
        }
        uint16_t n = rte_eth_rx_burst(s->port, s->queue, s->held, max);
        if (n || clock_ns(CLOCK_MONOTONIC) >= deadline)
            return n;
    }
}

static int dpdk_next(struct gw_source *base, struct gw_frame *out, uint32_t max)
{
    struct dpdk_src *s = (struct dpdk_src *)base;
    release_burst(s);
    if (max > s->burst)
        max = s->burst;
    if (!max)
        return 0;
    for (;;) {
        uint16_t n = rte_eth_rx_burst(s->port, s->queue, s->held, (uint16_t)max);
        if (!n && s->timeout_ms > 0)
            n = wait_burst(s, (uint16_t)max);
        int64_t now = clock_ns(CLOCK_REALTIME);
        if (!n) {
            /* Idle: a good moment for the counters.  Still at most once a
             * millisecond: a caller spinning with timeout_ms 0 must not
             * pay a device read per empty poll. */
            if (now - s->stats_ns >= STATS_EVERY_NS)
                read_stats(s, now);
            return 0;
        }
        s->nheld = n;
        uint32_t nf = 0;
        uint64_t bytes = 0;
        for (uint16_t i = 0; i < n; i++) {
            struct rte_mbuf *m = s->held[i];
            if (GW_UNLIKELY(m->nb_segs != 1)) {
                s->base.info.reasons[GW_R_SNAPPED]++;
                continue;
            }
            struct gw_frame *f = &out[nf++];
            f->data = rte_pktmbuf_mtod(m, const uint8_t *);
            f->len = m->data_len;
            f->wire_len = m->pkt_len;
            f->rx_ns = now;
            f->link = GW_LINK_ETHERNET;
            f->line = s->line;
            f->flags = 0;
            bytes += m->data_len;
        }
        s->base.info.frames += nf;
        s->base.info.bytes += bytes;
        if (now - s->stats_ns >= STATS_EVERY_NS)
            read_stats(s, now);
        if (nf)
            return (int)nf;
        /* Every frame of the burst was dropped: 0 would read as "idle", so
         * hand those mbufs back and take the next burst. */
        release_burst(s);
    }
}

static void dpdk_close(struct gw_source *base)
{
    struct dpdk_src *s = (struct dpdk_src *)base;
    release_burst(s);
    rte_eth_dev_stop(s->port);
    rte_eth_dev_close(s->port);
    /* After the port: closing it hands the ring's mbufs back to the pool. */
    rte_mempool_free(s->pool);
    pthread_mutex_lock(&eal.lock);
    eal.busy[s->port] = 0;
    if (eal.nclosed < MAX_CLOSED)
        snprintf(eal.closed[eal.nclosed++], RTE_ETH_NAME_MAX_LEN, "%s", s->status.port);
    pthread_mutex_unlock(&eal.lock);
    free(s);
}

void gw_dpdk_close(struct gw_source *src)
{
    if (src)
        src->close(src);
}

int gw_dpdk_status(struct gw_source *src, struct gw_dpdk_status *out)
{
    if (!src || src->next != dpdk_next)
        return -EINVAL;
    struct dpdk_src *s = (struct dpdk_src *)src;
    read_stats(s, clock_ns(CLOCK_REALTIME));
    *out = s->status;
    return 0;
}

/* Which port cfg names; -ENODEV with the ports there are named in err. */
static int find_port(const struct gw_dpdk_config *cfg, uint16_t *port, char *err, size_t errlen)
{
    char name[sizeof(cfg->port) + 1] = {0};
    char what[sizeof(name) + 8];
    memcpy(name, cfg->port, sizeof(cfg->port));
    if (!name[0]) {
        if (cfg->port_id < RTE_MAX_ETHPORTS && rte_eth_dev_is_valid_port((uint16_t)cfg->port_id)) {
            *port = (uint16_t)cfg->port_id;
            return 0;
        }
        snprintf(what, sizeof(what), "%u", cfg->port_id);
    } else {
        if (rte_eth_dev_get_port_by_name(name, port) == 0)
            return 0;
        snprintf(what, sizeof(what), "'%s'", name);
        for (unsigned i = 0; i < eal.nclosed; i++)
            if (strcmp(eal.closed[i], name) == 0)
                return fail(err, errlen, -ENODEV,
                            "DPDK port %s was closed earlier in this process: DPDK releases a "
                            "closed port, so it opens once per process", what);
    }
    char ports[256];
    if (list_ports(ports, sizeof(ports)) == 0)
        return fail(err, errlen, -ENODEV,
                    "no DPDK port %s: the EAL found no ports (add --vdev, or bind a NIC "
                    "to vfio-pci)", what);
    return fail(err, errlen, -ENODEV, "no DPDK port %s; ports: %s", what, ports);
}

static struct rte_mempool *make_pool(struct dpdk_src *s, uint32_t n, int socket)
{
    char name[RTE_MEMPOOL_NAMESIZE];
    pthread_mutex_lock(&eal.lock);
    snprintf(name, sizeof(name), "gw_rx%u_%u", s->port, eal.pools++);
    pthread_mutex_unlock(&eal.lock);
    /* Mempool's rule: a per-lcore cache at most n / 1.5; 256 amortises well. */
    unsigned cache = n / 8 < 256 ? n / 8 : 256;
    struct rte_mempool *mp =
        rte_pktmbuf_pool_create(name, n, cache, 0, RTE_MBUF_DEFAULT_BUF_SIZE, socket);
    if (!mp && socket != SOCKET_ID_ANY && rte_errno == ENOMEM) {
        /* No memory on the port's node: a remote pool beats none. */
        mp = rte_pktmbuf_pool_create(name, n, cache, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
                                     SOCKET_ID_ANY);
        socket = SOCKET_ID_ANY;
    }
    s->status.socket = socket;
    return mp;
}

int gw_source_open_dpdk(struct gw_source **out, const struct gw_dpdk_config *cfg, char *err,
                        size_t errlen)
{
    int rc;
    uint16_t port;
    if (errlen)
        err[0] = 0;
    log_clear();
    if (!gw_dpdk_eal_running())
        return fail(err, errlen, GW_ECONFIG, "the DPDK EAL is not running: gw_dpdk_eal_init first");
    if (!cfg || cfg->timeout_ms < 0 || cfg->burst > GW_DPDK_MAX_BURST)
        return fail(err, errlen, GW_ECONFIG,
                    "invalid DPDK source configuration (burst at most %d, timeout_ms >= 0)",
                    GW_DPDK_MAX_BURST);
    if (cfg->queue != 0)
        return fail(err, errlen, GW_ECONFIG,
                    "RX queue %u: the source configures its port with one queue, so only 0",
                    cfg->queue);
    pthread_mutex_lock(&eal.lock);
    rc = find_port(cfg, &port, err, errlen);
    if (rc == 0 && eal.busy[port]) {
        char name[RTE_ETH_NAME_MAX_LEN] = "?";
        rte_eth_dev_get_name_by_port(port, name);
        rc = fail(err, errlen, -EBUSY, "DPDK port '%s' is already open in this process", name);
    }
    if (rc == 0)
        eal.busy[port] = 1;
    pthread_mutex_unlock(&eal.lock);
    if (rc < 0)
        return rc;

    uint32_t burst = cfg->burst ? cfg->burst : DEFAULT_BURST;
    struct dpdk_src *s = calloc(1, sizeof(*s) + burst * sizeof(s->held[0]));
    if (!s) {
        rc = -ENOMEM;
        goto out_unbusy;
    }
    s->base.next = dpdk_next;
    s->base.close = dpdk_close;
    s->base.info.link = GW_LINK_ETHERNET;
    s->base.info.snaplen = RTE_MBUF_DEFAULT_DATAROOM;
    snprintf(s->base.info.kind, sizeof(s->base.info.kind), "dpdk");
    s->port = port;
    s->queue = cfg->queue;
    s->line = cfg->line;
    s->burst = burst;
    s->timeout_ms = cfg->timeout_ms;
    s->flags = cfg->flags;
    struct gw_dpdk_status *st = &s->status;
    rte_eth_dev_get_name_by_port(port, st->port);
    st->port_id = port;
    st->queue = cfg->queue;

    struct rte_eth_dev_info dev;
    rc = rte_eth_dev_info_get(port, &dev);
    if (rc != 0) {
        rc = fail(err, errlen, rc, "DPDK port '%s': device info: %s", st->port, rte_strerror(-rc));
        goto out_free;
    }
    snprintf(st->driver, sizeof(st->driver), "%s", dev.driver_name ? dev.driver_name : "?");

    /* One RX queue, no offloads: the decoder wants whole frames as sent. */
    struct rte_eth_conf conf;
    memset(&conf, 0, sizeof(conf));
    rc = rte_eth_dev_configure(port, 1, 1, &conf);
    if (rc != 0) {
        rc = fail(err, errlen, rc, "DPDK port '%s': configure: %s", st->port, rte_strerror(-rc));
        goto out_free;
    }
    uint16_t nb_rx = cfg->ring_size ? (uint16_t)(cfg->ring_size > 32768 ? 32768 : cfg->ring_size)
                                    : DEFAULT_RING;
    uint16_t nb_tx = TX_RING;
    rc = rte_eth_dev_adjust_nb_rx_tx_desc(port, &nb_rx, &nb_tx);
    if (rc != 0) {
        rc = fail(err, errlen, rc, "DPDK port '%s': ring sizes: %s", st->port, rte_strerror(-rc));
        goto out_free;
    }
    st->ring_size = nb_rx;

    /* Enough for a full ring, the burst we hold, a cache and slack. */
    uint32_t need = (uint32_t)nb_rx + burst + 256 + 64;
    uint32_t n = cfg->mbufs ? cfg->mbufs : (need > DEFAULT_MBUFS ? need : DEFAULT_MBUFS);
    if (n < need) {
        rc = fail(err, errlen, GW_ECONFIG,
                  "mbufs %u is fewer than the RX ring (%u), a burst (%u) and a cache need: at "
                  "least %u", n, nb_rx, burst, need);
        goto out_free;
    }
    st->mbufs = n;
    int socket = rte_eth_dev_socket_id(port);
    s->pool = make_pool(s, n, socket < 0 ? SOCKET_ID_ANY : socket);
    if (!s->pool) {
        int e = rte_errno;
        rc = fail(err, errlen, e == ENOMEM ? -ENOMEM : -(e ? e : EIO),
                  "DPDK port '%s': a pool of %u mbufs: %s%s", st->port, n, rte_strerror(e),
                  e == ENOMEM ? " (give the EAL more memory: -m, or more hugepages)" : "");
        goto out_free;
    }
    rc = rte_eth_rx_queue_setup(port, s->queue, nb_rx, (unsigned)st->socket, NULL, s->pool);
    if (rc != 0) {
        rc = fail(err, errlen, rc, "DPDK port '%s': RX queue: %s", st->port, rte_strerror(-rc));
        goto out_pool;
    }
    rc = rte_eth_tx_queue_setup(port, 0, nb_tx, (unsigned)SOCKET_ID_ANY, NULL);
    if (rc != 0) {
        rc = fail(err, errlen, rc, "DPDK port '%s': TX queue: %s", st->port, rte_strerror(-rc));
        goto out_pool;
    }
    /* Counters since this open: reset where the PMD can, and remember
     * where they stand where it cannot. */
    rte_eth_stats_reset(port);
    rte_eth_stats_get(port, &s->base_stats);
    rc = rte_eth_dev_start(port);
    if (rc != 0) {
        rc = fail(err, errlen, rc, "DPDK port '%s': start: %s", st->port, rte_strerror(-rc));
        goto out_pool;
    }
    /* Feeds are multicast, and a capture port sees other hosts' traffic;
     * a PMD without these modes (-ENOTSUP) is fine. */
    rte_eth_promiscuous_enable(port);
    rte_eth_allmulticast_enable(port);
    s->stats_ns = clock_ns(CLOCK_REALTIME);
    *out = &s->base;
    return 0;

out_pool:
    /* The port stays configured but stopped (closing it would release it
     * for good); a later open configures it afresh. */
    rte_mempool_free(s->pool);
out_free:
    free(s);
out_unbusy:
    pthread_mutex_lock(&eal.lock);
    eal.busy[port] = 0;
    pthread_mutex_unlock(&eal.lock);
    return rc;
}
