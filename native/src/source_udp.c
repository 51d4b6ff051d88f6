/*
 * source_udp.c -- the kernel UDP socket as a burst source.
 *
 * Theory of operation
 * -------------------
 * One socket per endpoint: a multicast group:port joined on the configured
 * interface (IP_ADD_MEMBERSHIP by interface index, so the kernel, the NIC
 * filter and the switches deliver it), bound to the group address so
 * other groups on the same port stay out, or a socket the caller already
 * bound (the retransmission requester's, whose answers come back to it).
 *
 * A call to next() reads with recvmmsg(MSG_DONTWAIT) from every socket in
 * turn into one set of fixed datagram buffers, so a burst holds what all
 * lines had ready, each frame tagged with its endpoint's line.  Only when
 * no socket has anything does it wait in poll() (up to timeout_ms), then
 * read once more.  The buffers are reused by the next call: that is the
 * release of the burst.
 *
 * Each datagram carries its kernel receive time (SO_TIMESTAMPNS, which is
 * CLOCK_REALTIME: the one clock) and the socket's running count of
 * datagrams the kernel dropped for want of buffer space (SO_RXQ_OVFL);
 * the source keeps the sum over sockets.  A datagram longer than a buffer
 * is dropped and counted as snapped, never handed out cut.
 */
#define _GNU_SOURCE /* recvmmsg */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "gw/gw.h"
#include "source.h"

#ifndef SO_RXQ_OVFL
#define SO_RXQ_OVFL 40
#endif

#define CTRL_SIZE (CMSG_SPACE(sizeof(struct timespec)) + CMSG_SPACE(sizeof(uint32_t)))

struct udp_sock {
    int fd;
    int owned;          /* opened here, closed here */
    uint16_t line;
    uint32_t drops;     /* last SO_RXQ_OVFL value seen */
};

struct udp_src {
    struct gw_source base;
    struct udp_sock socks[GW_UDP_MAX_ENDPOINTS];
    struct pollfd pfds[GW_UDP_MAX_ENDPOINTS];
    uint32_t nsocks;
    uint32_t next_sock;  /* who reads first next time: fairness under load */
    uint32_t slot_size, burst;
    int timeout_ms;
    uint8_t *bufs;
    uint8_t *ctrl;
    struct iovec *iov;
    struct mmsghdr *msgs;
};

static void udp_close(struct gw_source *base)
{
    struct udp_src *s = (struct udp_src *)base;
    for (uint32_t i = 0; i < s->nsocks; i++)
        if (s->socks[i].owned && s->socks[i].fd >= 0)
            close(s->socks[i].fd);
    free(s->bufs);
    free(s->ctrl);
    free(s->iov);
    free(s->msgs);
    free(s);
}

static int64_t rx_time(struct udp_src *s, struct udp_sock *k, struct msghdr *h)
{
    int64_t ns = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c; c = CMSG_NXTHDR(h, c)) {
        if (c->cmsg_level != SOL_SOCKET)
            continue;
        if (c->cmsg_type == SCM_TIMESTAMPNS) {
            struct timespec ts;
            memcpy(&ts, CMSG_DATA(c), sizeof(ts));
            ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
        } else if (c->cmsg_type == SO_RXQ_OVFL) {
            uint32_t drops;
            memcpy(&drops, CMSG_DATA(c), sizeof(drops));
            /* A running count per socket: add what is new. */
            s->base.info.kernel_drops += (uint32_t)(drops - k->drops);
            k->drops = drops;
        }
    }
    return ns ? ns : gw_clock_realtime_ns();
}

/* Read what one socket has into buffers [*bufs, max), appending frames at
 * out[*nf]; a dropped datagram uses a buffer but makes no frame.  Returns
 * 0 or -errno. */
static int read_sock(struct udp_src *s, struct udp_sock *k, struct gw_frame *out, uint32_t *nf,
                     uint32_t *bufs, uint32_t max)
{
    uint32_t at = *bufs, want = max - at;
    for (uint32_t i = 0; i < want; i++) {
        struct mmsghdr *m = &s->msgs[i];
        s->iov[i].iov_base = s->bufs + (size_t)(at + i) * s->slot_size;
        s->iov[i].iov_len = s->slot_size;
        memset(&m->msg_hdr, 0, sizeof(m->msg_hdr));
        m->msg_hdr.msg_iov = &s->iov[i];
        m->msg_hdr.msg_iovlen = 1;
        m->msg_hdr.msg_control = s->ctrl + (size_t)i * CTRL_SIZE;
        m->msg_hdr.msg_controllen = CTRL_SIZE;
    }
    int n = recvmmsg(k->fd, s->msgs, want, MSG_DONTWAIT, NULL);
    if (n < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -errno;
    *bufs += (uint32_t)n;
    for (int i = 0; i < n; i++) {
        struct mmsghdr *m = &s->msgs[i];
        int64_t ns = rx_time(s, k, &m->msg_hdr);
        if (m->msg_hdr.msg_flags & MSG_TRUNC) {
            s->base.info.reasons[GW_R_SNAPPED]++;
            continue;
        }
        struct gw_frame *f = &out[(*nf)++];
        f->data = (const uint8_t *)s->iov[i].iov_base;
        f->len = f->wire_len = m->msg_len;
        f->rx_ns = ns;
        f->link = GW_LINK_MOLD;
        f->line = k->line;
        f->flags = 0;
        s->base.info.frames++;
        s->base.info.bytes += m->msg_len;
    }
    return 0;
}

static int udp_next(struct gw_source *base, struct gw_frame *out, uint32_t max)
{
    struct udp_src *s = (struct udp_src *)base;
    if (max > s->burst)
        max = s->burst;
    for (int waited = 0;; waited = 1) {
        uint32_t got = 0, bufs = 0;
        for (uint32_t j = 0; j < s->nsocks && bufs < max; j++) {
            struct udp_sock *k = &s->socks[(s->next_sock + j) % s->nsocks];
            int rc = read_sock(s, k, out, &got, &bufs, max);
            if (rc < 0) {
                snprintf(s->base.info.error, sizeof(s->base.info.error), "recvmmsg: %s",
                         strerror(-rc));
                return rc;
            }
        }
        s->next_sock = (s->next_sock + 1) % s->nsocks;
        if (got || bufs || waited || s->timeout_ms == 0)
            return (int)got;
        s->base.info.polls++;
        int r = poll(s->pfds, s->nsocks, s->timeout_ms);
        if (r < 0 && errno != EINTR)
            return -errno;
        if (r <= 0)
            return 0;
    }
}

static int fail(char *err, size_t errlen, int rc, const char *fmt, const char *what)
{
    snprintf(err, errlen, fmt, what, strerror(-rc));
    return rc;
}

static int open_group(const struct gw_udp_endpoint *e, unsigned ifindex, uint32_t rcvbuf,
                      char *err, size_t errlen)
{
    char what[64];
    struct in_addr ga = {.s_addr = e->group};
    snprintf(what, sizeof(what), "%s:%u", inet_ntoa(ga), e->port);
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return fail(err, errlen, -errno, "%s: socket: %s", what);
    int one = 1, rc;
    /* Several receivers on one host (and the tests) share the group. */
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    /* The kernel caps SO_RCVBUF at net.core.rmem_max (often 208 KiB, a few
     * ms of a busy feed); with CAP_NET_ADMIN, FORCE goes past the cap. */
    if (rcvbuf && setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) < 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(e->port)};
    sa.sin_addr.s_addr = e->group;
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        rc = fail(err, errlen, -errno, "%s: bind: %s", what);
        goto out_close;
    }
    if (IN_MULTICAST(ntohl(e->group))) {
        struct ip_mreqn mr = {.imr_multiaddr = ga, .imr_ifindex = (int)ifindex};
        if (setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mr, sizeof(mr)) < 0) {
            rc = fail(err, errlen, -errno, "%s: joining the group: %s", what);
            goto out_close;
        }
    }
    if (setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one)) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof(one)) < 0) {
        rc = fail(err, errlen, -errno, "%s: receive timestamps: %s", what);
        goto out_close;
    }
    return fd;
out_close:
    close(fd);
    return rc;
}

int gw_source_open_udp(struct gw_source **out, const struct gw_udp_config *cfg, char *err,
                       size_t errlen)
{
    int rc;
    if (!cfg || !cfg->nendpoints || cfg->nendpoints > GW_UDP_MAX_ENDPOINTS ||
        cfg->timeout_ms < 0 || cfg->slot_size > 65536 || cfg->burst > 4096) {
        snprintf(err, errlen, "invalid UDP source configuration");
        return GW_ECONFIG;
    }
    unsigned ifindex = 0;
    char ifname[IF_NAMESIZE + 1] = {0};
    memcpy(ifname, cfg->interface, sizeof(cfg->interface) < IF_NAMESIZE ? sizeof(cfg->interface)
                                                                         : IF_NAMESIZE);
    if (ifname[0] && !(ifindex = if_nametoindex(ifname))) {
        snprintf(err, errlen, "interface '%s' does not exist", ifname);
        return -ENODEV;
    }
    struct udp_src *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->base.next = udp_next;
    s->base.close = udp_close;
    s->base.info.link = GW_LINK_MOLD;
    snprintf(s->base.info.kind, sizeof(s->base.info.kind), "udp");
    s->slot_size = cfg->slot_size ? cfg->slot_size : 2048;
    s->burst = cfg->burst ? cfg->burst : 256;
    s->base.info.snaplen = s->slot_size;
    s->timeout_ms = cfg->timeout_ms;
    s->bufs = malloc((size_t)s->burst * s->slot_size);
    s->ctrl = calloc(s->burst, CTRL_SIZE);
    s->iov = calloc(s->burst, sizeof(*s->iov));
    s->msgs = calloc(s->burst, sizeof(*s->msgs));
    rc = -ENOMEM;
    if (!s->bufs || !s->ctrl || !s->iov || !s->msgs)
        goto out_free;
    for (uint32_t i = 0; i < cfg->nendpoints; i++) {
        const struct gw_udp_endpoint *e = &cfg->endpoints[i];
        struct udp_sock *k = &s->socks[s->nsocks];
        k->line = e->line;
        if (e->fd >= 0) {
            int one = 1;
            k->fd = e->fd;
            setsockopt(k->fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one));
            setsockopt(k->fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof(one));
        } else {
            rc = open_group(e, ifindex, cfg->rcvbuf, err, errlen);
            if (rc < 0)
                goto out_free;
            k->fd = rc;
            k->owned = 1;
        }
        s->pfds[s->nsocks].fd = k->fd;
        s->pfds[s->nsocks].events = POLLIN;
        s->nsocks++;
    }
    *out = &s->base;
    return 0;
out_free:
    udp_close(&s->base);
    return rc;
}
