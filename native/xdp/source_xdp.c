/*
 * source_xdp.c -- AF_XDP as a burst source: frames read in place from the
 * UMEM the NIC (or, in copy mode, the kernel) writes into.
 *
 * Theory of operation
 * -------------------
 * Open: the XDP program (native/bpf/gw_xdp.bpf.c, embedded in this module)
 * is loaded with libbpf and attached to the interface in the asked mode
 * (generic "skb" or driver "native"); its gw_feeds map gets the configured
 * (destination address, port) pairs with their lines.  One UMEM (an
 * anonymous mapping of `frames` x `frame_size`) carries one AF_XDP socket
 * per configured queue, created with libxdp's xsk API (the first owns the
 * UMEM, the others share it with fill and completion rings of their own;
 * the frames are split between them) and entered in the program's XSKMAP
 * under its queue.  Zero-copy is tried first in native mode and copy
 * mode used where the driver cannot (the mode used is reported).  The
 * multicast groups are joined through an ordinary socket, so IGMP and the
 * NIC's filters deliver them; the kernel never sees their frames, which the
 * program redirects before the stack.
 *
 * Each call to next() first gives the previous burst's frames back to the
 * fill ring (they stay the caller's until then: that is the release), then
 * peeks the RX ring: every descriptor becomes a gw_frame pointing into the
 * UMEM (link Ethernet) and the RX entries are released at once -- the
 * buffers themselves only return through the fill ring.  The receive time
 * is the program's bpf_ktime_get_ns() stamp in the metadata in front of the
 * frame (CLOCK_MONOTONIC), moved to CLOCK_REALTIME (the one clock) by an
 * offset measured at open and refreshed every second; the line is the
 * program's too.  With nothing to read, the fill ring is kicked if the
 * kernel asks for a wakeup, and the call waits in poll() up to timeout_ms
 * (with busy polling, the poll itself drives the driver's NAPI).
 */
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_link.h>
#include <linux/if_xdp.h>
#include <xdp/xsk.h>

#include "gw/gw.h"
#include "source.h"
#include "xdp_api.h"
#include "xdp_meta.h"
#include "gw_xdp_prog.h" /* generated: the compiled XDP program */

#ifndef SO_PREFER_BUSY_POLL
#define SO_PREFER_BUSY_POLL 69
#endif
#ifndef SO_BUSY_POLL_BUDGET
#define SO_BUSY_POLL_BUDGET 70
#endif

#define MAX_BURST 1024

struct xq {                    /* one socket, on one queue */
    struct xsk_socket *xsk;
    struct xsk_ring_prod fill;
    struct xsk_ring_cons comp;
    struct xsk_ring_cons rx;
    uint32_t queue;
    uint32_t nheld;
    uint64_t held[MAX_BURST];  /* frames of the last burst, back to fill next call */
};

struct xdp_src {
    struct gw_source base;
    struct gw_xdp_status st;
    int ifindex;
    uint32_t attach_flags;     /* what we attached with, to detach the same */
    int attached;
    struct bpf_object *obj;
    void *area;
    size_t area_size;
    uint32_t frame_size;
    struct xsk_umem *umem;
    struct xq q[GW_XDP_MAX_QUEUES];
    uint32_t nq;
    uint32_t next_q;           /* who is read first: fairness under load */
    struct pollfd pfds[GW_XDP_MAX_QUEUES];
    int timeout_ms;
    int join_fd;               /* holds the multicast memberships */
    int64_t mono_to_real;      /* CLOCK_REALTIME - CLOCK_MONOTONIC, ns */
    int64_t offset_at;         /* monotonic time it was measured */
};

static int64_t clock_ns(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The offset between the two clocks, read between two realtime reads so a
 * preemption in the middle shows and is retried. */
static void measure_offset(struct xdp_src *s)
{
    for (int i = 0; i < 3; i++) {
        int64_t r0 = clock_ns(CLOCK_REALTIME), m = clock_ns(CLOCK_MONOTONIC);
        int64_t r1 = clock_ns(CLOCK_REALTIME);
        s->mono_to_real = (r0 + r1) / 2 - m;
        s->offset_at = m;
        if (r1 - r0 < 20000)
            break;
    }
}

static void refill(struct xq *q)
{
    uint32_t idx;
    if (!q->nheld)
        return;
    /* A queue's fill ring holds all of its frames: there is always room. */
    if (xsk_ring_prod__reserve(&q->fill, q->nheld, &idx) != q->nheld)
        return;
    for (uint32_t i = 0; i < q->nheld; i++)
        *xsk_ring_prod__fill_addr(&q->fill, idx + i) = q->held[i];
    xsk_ring_prod__submit(&q->fill, q->nheld);
    q->nheld = 0;
}

static void read_stats(struct xdp_src *s)
{
    struct gw_xdp_status sum = s->st;
    sum.rx_dropped = sum.rx_invalid = sum.rx_ring_full = sum.fill_ring_empty = 0;
    for (uint32_t k = 0; k < s->nq; k++) {
        struct xdp_statistics xs;
        socklen_t len = sizeof(xs);
        if (getsockopt(xsk_socket__fd(s->q[k].xsk), SOL_XDP, XDP_STATISTICS, &xs, &len))
            continue;
        sum.rx_dropped += xs.rx_dropped;
        sum.rx_invalid += xs.rx_invalid_descs;
        sum.rx_ring_full += xs.rx_ring_full;
        sum.fill_ring_empty += xs.rx_fill_ring_empty_descs;
    }
    s->st = sum;
    s->base.info.nic_drops = sum.rx_dropped + sum.rx_ring_full;
}

/* Frames from one socket's RX ring, appended at out[got]; returns how many. */
static uint32_t read_queue(struct xdp_src *s, struct xq *q, struct gw_frame *out, uint32_t got,
                           uint32_t max, int64_t *now_mono)
{
    uint32_t idx, n = xsk_ring_cons__peek(&q->rx, max - got, &idx);
    for (uint32_t i = 0; i < n; i++) {
        const struct xdp_desc *d = xsk_ring_cons__rx_desc(&q->rx, idx + i);
        uint8_t *data = xsk_umem__get_data(s->area, d->addr);
        struct gw_xdp_meta meta;
        struct gw_frame *f = &out[got + i];
        memcpy(&meta, data - sizeof(meta), sizeof(meta));
        if (meta.magic == GW_XDP_META_MAGIC) {
            f->rx_ns = (int64_t)meta.rx_ns + s->mono_to_real;
            f->line = (uint16_t)meta.line;
        } else {
            if (!*now_mono)
                *now_mono = clock_ns(CLOCK_MONOTONIC);
            f->rx_ns = *now_mono + s->mono_to_real;
            f->line = 0;
            s->st.no_meta++;
        }
        /* A stale magic must not pass for the next frame in this buffer. */
        ((struct gw_xdp_meta *)(data - sizeof(meta)))->magic = 0;
        f->data = data;
        f->len = f->wire_len = d->len;
        f->link = GW_LINK_ETHERNET;
        f->flags = 0;
        q->held[q->nheld++] = xsk_umem__extract_addr(d->addr) & ~(uint64_t)(s->frame_size - 1);
        s->base.info.bytes += d->len;
    }
    if (n)
        xsk_ring_cons__release(&q->rx, n);
    return n;
}

static int xdp_next(struct gw_source *base, struct gw_frame *out, uint32_t max)
{
    struct xdp_src *s = (struct xdp_src *)base;
    uint32_t n = 0;
    int64_t now_mono = 0;
    for (uint32_t k = 0; k < s->nq; k++)
        refill(&s->q[k]);
    if (max > MAX_BURST)
        max = MAX_BURST;
    for (int waited = 0;; waited = 1) {
        for (uint32_t j = 0; j < s->nq && n < max; j++)
            n += read_queue(s, &s->q[(s->next_q + j) % s->nq], out, n, max, &now_mono);
        s->next_q = (s->next_q + 1) % s->nq;
        if (n || waited || s->timeout_ms == 0)
            break;
        for (uint32_t k = 0; k < s->nq; k++)
            if (xsk_ring_prod__needs_wakeup(&s->q[k].fill))
                recvfrom(xsk_socket__fd(s->q[k].xsk), NULL, 0, MSG_DONTWAIT, NULL, NULL);
        s->base.info.polls++;
        if (poll(s->pfds, s->nq, s->timeout_ms) <= 0)
            break;
    }
    s->base.info.frames += n;
    int64_t m = n ? 0 : clock_ns(CLOCK_MONOTONIC);
    if (m && m - s->offset_at > 1000000000) {
        measure_offset(s);
        read_stats(s);
    }
    return (int)n;
}

static void xdp_close(struct gw_source *base)
{
    struct xdp_src *s = (struct xdp_src *)base;
    for (uint32_t k = 0; k < GW_XDP_MAX_QUEUES; k++)
        if (s->q[k].xsk)
            xsk_socket__delete(s->q[k].xsk);
    if (s->umem)
        xsk_umem__delete(s->umem);
    if (s->attached)
        bpf_xdp_detach(s->ifindex, s->attach_flags, NULL);
    if (s->obj)
        bpf_object__close(s->obj);
    if (s->area)
        munmap(s->area, s->area_size);
    if (s->join_fd >= 0)
        close(s->join_fd);
    free(s);
}

static int say(char *err, size_t errlen, int rc, const char *what, const char *ifname)
{
    if (rc == -EPERM || rc == -EACCES)
        snprintf(err, errlen,
                 "%s on %s: not permitted: AF_XDP needs CAP_NET_ADMIN, CAP_BPF, CAP_NET_RAW and "
                 "CAP_IPC_LOCK (run as root, or setcap cap_net_admin,cap_bpf,cap_net_raw,"
                 "cap_ipc_lock+ep on the python binary)",
                 what, ifname);
    else
        snprintf(err, errlen, "%s on %s: %s", what, ifname, strerror(-rc));
    return rc;
}

static int load_program(struct xdp_src *s, const struct gw_xdp_config *cfg, const char *ifname,
                        char *err, size_t errlen)
{
    int rc;
    s->obj = bpf_object__open_mem(gw_xdp_prog, sizeof(gw_xdp_prog), NULL);
    if (!s->obj)
        return say(err, errlen, -errno, "opening the XDP program", ifname);
    rc = bpf_object__load(s->obj);
    if (rc)
        return say(err, errlen, rc, "loading the XDP program", ifname);
    struct bpf_program *prog = bpf_object__find_program_by_name(s->obj, "gw_xdp_steer");
    struct bpf_map *feeds = bpf_object__find_map_by_name(s->obj, "gw_feeds");
    if (!prog || !feeds)
        return say(err, errlen, -ENOENT, "the embedded XDP program", ifname);
    for (uint32_t i = 0; i < cfg->nfeeds; i++) {
        struct {
            uint32_t addr;
            uint16_t port;
            uint16_t pad;
        } key = {cfg->feeds[i].addr, htons(cfg->feeds[i].port), 0};
        uint32_t line = cfg->feeds[i].line;
        rc = bpf_map__update_elem(feeds, &key, sizeof(key), &line, sizeof(line), BPF_ANY);
        if (rc)
            return say(err, errlen, rc, "filling the feed map", ifname);
    }
    s->attach_flags = XDP_FLAGS_UPDATE_IF_NOEXIST |
                      (cfg->mode == GW_XDP_MODE_NATIVE ? XDP_FLAGS_DRV_MODE : XDP_FLAGS_SKB_MODE);
    rc = bpf_xdp_attach(s->ifindex, bpf_program__fd(prog), s->attach_flags, NULL);
    if (rc == -EBUSY || rc == -EEXIST) {
        snprintf(err, errlen, "attaching XDP on %s: another XDP program is attached "
                 "(see `ip link show %s`; remove it with `ip link set %s xdp off`)",
                 ifname, ifname, ifname);
        return rc;
    }
    if (rc)
        return say(err, errlen, rc,
                   cfg->mode == GW_XDP_MODE_NATIVE ? "attaching XDP in native mode (does the "
                                                     "driver support XDP? try --xdp-mode skb)"
                                                   : "attaching XDP in skb mode",
                   ifname);
    s->attached = 1;
    s->st.mode = cfg->mode;
    return 0;
}

static int make_sockets(struct xdp_src *s, const struct gw_xdp_config *cfg, const char *ifname,
                        char *err, size_t errlen)
{
    uint32_t frames = cfg->frames ? cfg->frames : 4096;
    int rc;
    s->frame_size = cfg->frame_size ? cfg->frame_size : 4096;
    if ((s->frame_size != 2048 && s->frame_size != 4096) || frames < 64 || frames > (1u << 20) ||
        (frames & (frames - 1))) {
        snprintf(err, errlen, "frames must be a power of two in 64..1048576 and frame_size "
                 "2048 or 4096");
        return GW_ECONFIG;
    }
    s->area_size = (size_t)frames * s->frame_size;
    s->area = mmap(NULL, s->area_size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (s->area == MAP_FAILED) {
        s->area = NULL;
        return say(err, errlen, -errno, "mapping the UMEM", ifname);
    }
    struct xsk_umem_config ucfg = {
        .fill_size = frames, .comp_size = 64, .frame_size = s->frame_size,
        .frame_headroom = 0, .flags = 0,
    };
    rc = xsk_umem__create(&s->umem, s->area, s->area_size, &s->q[0].fill, &s->q[0].comp, &ucfg);
    if (rc)
        return say(err, errlen, rc, "registering the UMEM", ifname);
    /* Each socket gets an equal share of the frames (a power of two). */
    uint32_t share = frames / s->nq, rx_size = share < 2048 ? share : 2048;
    while (share & (share - 1))
        share &= share - 1;
    rx_size = rx_size < 64 ? 64 : rx_size;
    while (rx_size & (rx_size - 1))
        rx_size &= rx_size - 1;
    struct xsk_socket_config xcfg = {
        .rx_size = rx_size, .tx_size = 0,
        .libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD,
        .xdp_flags = 0,
    };
    struct bpf_map *xsks = bpf_object__find_map_by_name(s->obj, "gw_xsks");
    if (!xsks)
        return say(err, errlen, -ENOENT, "the program's XSK map", ifname);
    for (uint32_t k = 0; k < s->nq; k++) {
        struct xq *q = &s->q[k];
        q->queue = cfg->queues[k];
        /* The first socket tries zero-copy in native mode; the others bind
         * as it did (sockets sharing a UMEM share its mode). */
        rc = -EOPNOTSUPP;
        if (k == 0 && cfg->mode == GW_XDP_MODE_NATIVE && !(cfg->flags & GW_XDP_FORCE_COPY)) {
            xcfg.bind_flags = XDP_USE_NEED_WAKEUP | XDP_ZEROCOPY;
            rc = xsk_socket__create(&q->xsk, ifname, q->queue, s->umem, &q->rx, NULL, &xcfg);
            s->st.zerocopy = rc == 0;
        }
        if (rc) {
            xcfg.bind_flags = XDP_USE_NEED_WAKEUP | (s->st.zerocopy ? XDP_ZEROCOPY : XDP_COPY);
            rc = k == 0 ? xsk_socket__create(&q->xsk, ifname, q->queue, s->umem, &q->rx, NULL,
                                             &xcfg)
                        : xsk_socket__create_shared(&q->xsk, ifname, q->queue, s->umem, &q->rx,
                                                    NULL, &q->fill, &q->comp, &xcfg);
        }
        if (rc)
            return say(err, errlen, rc, "creating an AF_XDP socket", ifname);
        rc = xsk_socket__update_xskmap(q->xsk, bpf_map__fd(xsks));
        if (rc)
            return say(err, errlen, rc, "entering a socket in the XSK map", ifname);
        /* Its share of the frames starts on its fill ring. */
        uint32_t idx;
        if (xsk_ring_prod__reserve(&q->fill, share, &idx) != share)
            return say(err, errlen, -ENOMEM, "filling a fill ring", ifname);
        for (uint32_t i = 0; i < share; i++)
            *xsk_ring_prod__fill_addr(&q->fill, idx + i) = ((uint64_t)k * share + i) * s->frame_size;
        xsk_ring_prod__submit(&q->fill, share);
        s->pfds[k].fd = xsk_socket__fd(q->xsk);
        s->pfds[k].events = POLLIN;
    }
    s->st.need_wakeup = 1;
    return 0;
}

static void busy_poll(struct xdp_src *s, const struct gw_xdp_config *cfg)
{
    int one = 1;
    int us = cfg->busy_poll_us ? (int)cfg->busy_poll_us : 20;
    int budget = cfg->busy_budget ? (int)cfg->busy_budget : 64;
    s->st.busy_poll = 1;
    for (uint32_t k = 0; k < s->nq; k++) {
        int fd = xsk_socket__fd(s->q[k].xsk);
        s->st.busy_poll &= setsockopt(fd, SOL_SOCKET, SO_PREFER_BUSY_POLL, &one,
                                      sizeof(one)) == 0 &&
                           setsockopt(fd, SOL_SOCKET, SO_BUSY_POLL, &us, sizeof(us)) == 0 &&
                           setsockopt(fd, SOL_SOCKET, SO_BUSY_POLL_BUDGET, &budget,
                                      sizeof(budget)) == 0;
    }
}

static int join_groups(struct xdp_src *s, const struct gw_xdp_config *cfg, const char *ifname,
                       char *err, size_t errlen)
{
    s->join_fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s->join_fd < 0)
        return say(err, errlen, -errno, "socket for the group memberships", ifname);
    for (uint32_t i = 0; i < cfg->nfeeds; i++) {
        if (!cfg->feeds[i].join)
            continue;
        struct ip_mreqn mr = {.imr_ifindex = s->ifindex};
        mr.imr_multiaddr.s_addr = cfg->feeds[i].addr;
        if (setsockopt(s->join_fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mr, sizeof(mr)) < 0 &&
            errno != EADDRINUSE)
            return say(err, errlen, -errno, "joining a multicast group", ifname);
    }
    return 0;
}

int gw_source_open_xdp(struct gw_source **out, const struct gw_xdp_config *cfg, char *err,
                       size_t errlen)
{
    char ifname[IF_NAMESIZE + 1] = {0};
    int rc;
    if (!cfg || !cfg->nfeeds || cfg->nfeeds > GW_XDP_MAX_FEEDS || cfg->timeout_ms < 0 ||
        !cfg->nqueues || cfg->nqueues > GW_XDP_MAX_QUEUES ||
        (cfg->mode != GW_XDP_MODE_SKB && cfg->mode != GW_XDP_MODE_NATIVE)) {
        snprintf(err, errlen, "invalid AF_XDP source configuration");
        return GW_ECONFIG;
    }
    memcpy(ifname, cfg->interface, sizeof(cfg->interface) < IF_NAMESIZE ? sizeof(cfg->interface)
                                                                         : IF_NAMESIZE);
    int ifindex = (int)if_nametoindex(ifname);
    if (!ifname[0] || !ifindex) {
        snprintf(err, errlen, "interface '%s' does not exist", ifname);
        return -ENODEV;
    }
    /* Old kernels charge BPF maps and the UMEM to RLIMIT_MEMLOCK. */
    struct rlimit unlimited = {RLIM_INFINITY, RLIM_INFINITY};
    setrlimit(RLIMIT_MEMLOCK, &unlimited);
    libbpf_set_print(NULL); /* errors come back as codes and one line, not stderr noise */

    struct xdp_src *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->base.next = xdp_next;
    s->base.close = xdp_close;
    s->base.info.link = GW_LINK_ETHERNET;
    s->ifindex = ifindex;
    s->timeout_ms = cfg->timeout_ms;
    s->join_fd = -1;
    rc = load_program(s, cfg, ifname, err, errlen);
    if (rc)
        goto out_close;
    s->nq = cfg->nqueues;
    rc = make_sockets(s, cfg, ifname, err, errlen);
    if (rc)
        goto out_close;
    if (cfg->flags & GW_XDP_BUSY_POLL)
        busy_poll(s, cfg);
    rc = join_groups(s, cfg, ifname, err, errlen);
    if (rc)
        goto out_close;
    s->base.info.snaplen = s->frame_size;
    snprintf(s->base.info.kind, sizeof(s->base.info.kind), "afxdp-%s-%s",
             cfg->mode == GW_XDP_MODE_NATIVE ? "native" : "skb",
             s->st.zerocopy ? "zerocopy" : "copy");
    measure_offset(s);
    *out = &s->base;
    return 0;
out_close:
    xdp_close(&s->base);
    return rc;
}

int gw_xdp_status(struct gw_source *src, struct gw_xdp_status *out)
{
    struct xdp_src *s = (struct xdp_src *)src;
    read_stats(s);
    *out = s->st;
    return 0;
}
