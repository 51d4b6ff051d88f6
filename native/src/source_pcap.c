/*
 * source_pcap.c -- capture files as a burst source.
 *
 * Theory of operation
 * -------------------
 * Classic pcap files (microsecond or nanosecond, either byte order) are
 * mapped into memory and their records walked in place: each frame
 * descriptor points straight into the mapping, so nothing copies a packet
 * and a burst's frames stay valid for as long as the source is open.
 *
 * Everything else libpcap can read (pcapng above all) goes through libpcap.
 * libpcap reuses one buffer per packet, so those frames are copied into a
 * per-burst arena -- one memcpy per packet, the price of the format; live
 * kernel-bypass sources never pay it.
 *
 * A BPF filter expression is compiled by libpcap for the file's link type
 * and applied to every frame with pcap_offline_filter(); rejected frames
 * are counted (GW_R_FILTERED), not handed out.  Exchange captures are often
 * VLAN-tagged, and on a live Linux capture (VLAN offload) "udp port N"
 * matches tagged frames; to behave the same, a filter that does not itself
 * mention vlan is also compiled as "vlan and (F)" and "vlan and vlan and
 * (F)", and the program matching the frame's tag depth is run.
 *
 * Timestamps become int64 nanoseconds since the epoch (the one clock).
 */
#include <errno.h>
#include <fcntl.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gw/gw.h"
#include "source.h"

#define PCAP_MAGIC_US 0xA1B2C3D4u
#define PCAP_MAGIC_NS 0xA1B23C4Du
#define PCAP_GLOBAL_HDR 24
#define PCAP_RECORD_HDR 16
#define ARENA_SIZE (4u << 20)
/* The link-type field's low bits; FCS length and flags sit above them
 * (libpcap's LT_LINKTYPE). */
#define PCAP_LINKTYPE_MASK 0x03FFFFFFu

struct pcap_src {
    struct gw_source base;
    /* mmap path */
    const uint8_t *map;
    size_t map_len;
    size_t pos;
    int swapped;
    int nano;
    /* libpcap path */
    pcap_t *pc;
    uint8_t *arena;
    /* filter: one program per VLAN tag depth (0, 1, 2) */
    int has_filter;
    int per_depth;  /* the filter does not mention vlan: pick by depth */
    struct bpf_program prog[3];
};

static inline uint32_t rd32(const struct pcap_src *s, const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return s->swapped ? __builtin_bswap32(v) : v;
}

static uint32_t link_of(int dlt)
{
    switch (dlt) {
    case DLT_EN10MB: return GW_LINK_ETHERNET;
    case DLT_RAW: return GW_LINK_RAW;
    case 228 /* DLT_IPV4 */: return GW_LINK_RAW_IPV4;
    case DLT_LINUX_SLL: return GW_LINK_LINUX_SLL;
    case 276 /* DLT_LINUX_SLL2 */: return GW_LINK_LINUX_SLL2;
    default: return (uint32_t)dlt; /* the decoder counts it as unknown */
    }
}

static inline int passes(struct pcap_src *s, const uint8_t *data, uint32_t caplen, uint32_t len)
{
    if (!s->has_filter)
        return 1;
    struct pcap_pkthdr h = {.caplen = caplen, .len = len};
    int depth = 0;
    if (s->per_depth && s->base.info.link == GW_LINK_ETHERNET) {
        for (uint32_t off = 12; depth < 2 && off + 2 <= caplen; off += 4) {
            uint32_t t = (uint32_t)gw_be16(data + off);
            if (t != 0x8100 && t != 0x88A8)
                break;
            depth++;
        }
    }
    if (pcap_offline_filter(&s->prog[depth], &h, data))
        return 1;
    s->base.info.reasons[GW_R_FILTERED]++;
    return 0;
}

static int next_mmap(struct gw_source *base, struct gw_frame *out, uint32_t max)
{
    struct pcap_src *s = (struct pcap_src *)base;
    uint32_t n = 0;
    while (n < max) {
        if (s->pos == s->map_len)
            break;
        if (s->map_len - s->pos < PCAP_RECORD_HDR) {
            s->base.info.reasons[GW_R_TRUNCATED_RECORD]++;
            s->pos = s->map_len;
            break;
        }
        const uint8_t *h = s->map + s->pos;
        uint32_t sec = rd32(s, h), frac = rd32(s, h + 4);
        uint32_t caplen = rd32(s, h + 8), len = rd32(s, h + 12);
        if (caplen > s->map_len - s->pos - PCAP_RECORD_HDR) {
            s->base.info.reasons[GW_R_TRUNCATED_RECORD]++;
            s->pos = s->map_len;
            break;
        }
        const uint8_t *data = h + PCAP_RECORD_HDR;
        s->pos += PCAP_RECORD_HDR + (size_t)caplen;
        if (!passes(s, data, caplen, len))
            continue;
        struct gw_frame *f = &out[n++];
        f->data = data;
        f->len = caplen;
        f->wire_len = len;
        f->rx_ns = (int64_t)sec * 1000000000 + (int64_t)frac * (s->nano ? 1 : 1000);
        f->link = s->base.info.link;
        f->line = 0;
        f->flags = 0;
        s->base.info.bytes += caplen;
    }
    s->base.info.frames += n;
    s->base.info.bytes_read = s->pos;
    return (int)n;
}

static int next_libpcap(struct gw_source *base, struct gw_frame *out, uint32_t max)
{
    struct pcap_src *s = (struct pcap_src *)base;
    uint32_t n = 0;
    size_t used = 0;
    while (n < max && s->pc) {
        struct pcap_pkthdr *h;
        const u_char *data;
        int rc = pcap_next_ex(s->pc, &h, &data);
        if (rc == PCAP_ERROR_BREAK) { /* end of file */
            pcap_close(s->pc);
            s->pc = NULL;
            break;
        }
        if (rc < 0) {
            /* libpcap stops at a truncated or corrupt record: count it and
             * end the input, keeping what came before. */
            snprintf(s->base.info.error, sizeof(s->base.info.error), "%s", pcap_geterr(s->pc));
            s->base.info.reasons[GW_R_TRUNCATED_RECORD]++;
            pcap_close(s->pc);
            s->pc = NULL;
            break;
        }
        if (rc == 0)
            continue;
        if (h->caplen > ARENA_SIZE - used) {
            /* Unreachable: the burst stops while a maximal (256 KiB) frame
             * still fits.  Counted rather than trusted. */
            s->base.info.reasons[GW_R_SNAPPED]++;
            continue;
        }
        if (!passes(s, data, h->caplen, h->len))
            continue;
        memcpy(s->arena + used, data, h->caplen);
        struct gw_frame *f = &out[n++];
        f->data = s->arena + used;
        f->len = h->caplen;
        f->wire_len = h->len;
        /* Seconds are unsigned 32-bit in the file; libpcap sign-extends them
         * from native-order classic pcap files (not from swapped ones), so
         * after 2038 they would come out negative.  Read them as the mmap
         * path does. */
        f->rx_ns = (int64_t)(uint32_t)h->ts.tv_sec * 1000000000 + (int64_t)h->ts.tv_usec;
        f->link = s->base.info.link;
        f->line = 0;
        f->flags = 0;
        used += h->caplen;
        s->base.info.bytes += h->caplen;
        /* Stop while a maximal packet still fits, so none is ever refused. */
        if (ARENA_SIZE - used < 262144)
            break;
    }
    s->base.info.frames += n;
    if (s->pc) {
        FILE *fp = pcap_file(s->pc);
        long off = fp ? ftell(fp) : -1;
        if (off >= 0)
            s->base.info.bytes_read = (uint64_t)off;
    } else {
        s->base.info.bytes_read = s->base.info.bytes_total;
    }
    return (int)n;
}

static void close_pcap(struct gw_source *base)
{
    struct pcap_src *s = (struct pcap_src *)base;
    if (s->map)
        munmap((void *)s->map, s->map_len);
    if (s->pc)
        pcap_close(s->pc);
    for (int i = 0; i < s->has_filter; i++)
        pcap_freecode(&s->prog[i]);
    free(s->arena);
    free(s);
}

static int compile_filter(struct pcap_src *s, int dlt, int nano, const char *filter, char *err,
                          size_t errlen)
{
    if (!filter || !*filter)
        return 0;
    pcap_t *dead = pcap_open_dead_with_tstamp_precision(
        dlt, 262144, nano ? PCAP_TSTAMP_PRECISION_NANO : PCAP_TSTAMP_PRECISION_MICRO);
    if (!dead)
        return -ENOMEM;
    int rc = 0;
    s->per_depth = strstr(filter, "vlan") == NULL && dlt == DLT_EN10MB;
    const char *fmt[3] = {"%s", "vlan and (%s)", "vlan and vlan and (%s)"};
    for (int i = 0; i < (s->per_depth ? 3 : 1); i++) {
        char expr[4096];
        if ((size_t)snprintf(expr, sizeof(expr), fmt[i], filter) >= sizeof(expr)) {
            snprintf(err, errlen, "filter expression longer than %zu bytes", sizeof(expr) - 32);
            rc = GW_EFILTER;
            break;
        }
        if (pcap_compile(dead, &s->prog[i], expr, 1, PCAP_NETMASK_UNKNOWN) != 0) {
            snprintf(err, errlen, "bad filter \"%s\": %s", filter, pcap_geterr(dead));
            rc = GW_EFILTER;
            break;
        }
        s->has_filter = i + 1;
    }
    pcap_close(dead);
    return rc;
}

/* Map a classic pcap file; returns 1 if mapped, 0 if it is not classic pcap. */
static int try_mmap(struct pcap_src *s, int fd, size_t size)
{
    uint8_t hdr[PCAP_GLOBAL_HDR];
    if (size < PCAP_GLOBAL_HDR || pread(fd, hdr, sizeof(hdr), 0) != (ssize_t)sizeof(hdr))
        return 0;
    uint32_t magic;
    memcpy(&magic, hdr, 4);
    if (magic == PCAP_MAGIC_US || magic == PCAP_MAGIC_NS) {
        s->swapped = 0;
    } else if (__builtin_bswap32(magic) == PCAP_MAGIC_US ||
               __builtin_bswap32(magic) == PCAP_MAGIC_NS) {
        s->swapped = 1;
        magic = __builtin_bswap32(magic);
    } else {
        return 0;
    }
    void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED)
        return 0; /* libpcap can still read it */
    /* Advice values are not flags: OR-ing them would ask for one thing. */
    madvise(map, size, MADV_SEQUENTIAL);
    madvise(map, size, MADV_WILLNEED);
    s->map = map;
    s->map_len = size;
    s->pos = PCAP_GLOBAL_HDR;
    s->nano = magic == PCAP_MAGIC_NS;
    s->base.info.snaplen = rd32(s, hdr + 16);
    s->base.info.link = link_of((int)(rd32(s, hdr + 20) & PCAP_LINKTYPE_MASK));
    return 1;
}

int gw_source_open_pcap(struct gw_source **out, const char *path, const char *filter,
                        uint32_t flags, char *err, size_t errlen)
{
    int rc, fd;
    char ebuf[PCAP_ERRBUF_SIZE] = "";
    struct pcap_src *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;

    fd = rc = gw_open_regular(path, &s->base.info.bytes_total, err, errlen);
    if (rc < 0)
        goto out_free;

    if (!(flags & GW_SRC_FORCE_LIBPCAP) && try_mmap(s, fd, (size_t)s->base.info.bytes_total)) {
        s->base.next = next_mmap;
        snprintf(s->base.info.kind, sizeof(s->base.info.kind), "pcap-mmap");
        int dlt = (int)(rd32(s, s->map + 20) & PCAP_LINKTYPE_MASK);
        if (dlt == 101) /* the file says LINKTYPE_RAW; libpcap compiles for DLT_RAW */
            dlt = DLT_RAW;
        rc = compile_filter(s, dlt, s->nano, filter, err, errlen);
        if (rc)
            goto out_unmap;
    } else {
        s->pc = pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_NANO, ebuf);
        if (!s->pc) {
            rc = GW_EFORMAT;
            snprintf(err, errlen, "%s: not a pcap or pcapng capture (%s)", path, ebuf);
            goto out_close_fd;
        }
        s->arena = malloc(ARENA_SIZE);
        if (!s->arena) {
            rc = -ENOMEM;
            goto out_close_pcap;
        }
        s->base.next = next_libpcap;
        snprintf(s->base.info.kind, sizeof(s->base.info.kind), "libpcap");
        s->base.info.snaplen = (uint32_t)pcap_snapshot(s->pc);
        s->base.info.link = link_of(pcap_datalink(s->pc));
        rc = compile_filter(s, pcap_datalink(s->pc), 1, filter, err, errlen);
        if (rc)
            goto out_close_pcap;
    }
    close(fd);
    s->base.close = close_pcap;
    *out = &s->base;
    return 0;

out_unmap:
    munmap((void *)s->map, s->map_len);
    goto out_close_fd;
out_close_pcap:
    pcap_close(s->pc);
    free(s->arena);
out_close_fd:
    close(fd);
out_free:
    free(s);
    return rc;
}
