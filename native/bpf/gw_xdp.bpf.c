/*
 * gw_xdp.bpf.c -- the gateway's XDP program: steer the feeds to AF_XDP.
 *
 * Theory of operation
 * -------------------
 * Runs on every frame the interface receives.  A frame is the gateway's only
 * if it is IPv4 (behind up to two VLAN tags), UDP, not a fragment, and its
 * destination (address, port) is in gw_feeds -- the configured multicast
 * groups and the retransmission requester's port.  Those frames get a
 * metadata block in front of them (receive time from bpf_ktime_get_ns and
 * the feed's line) and are redirected to the AF_XDP socket of their receive
 * queue.  Everything else -- ARP, IGMP, ICMP, other UDP ports, TCP -- is
 * passed to the kernel untouched, so the host stays reachable and the
 * kernel keeps the multicast memberships alive.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "../xdp/xdp_meta.h"

struct feed_key {
    __u32 addr; /* destination IPv4, network order */
    __u16 port; /* destination port, network order */
    __u16 pad;
};

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 64);
    __type(key, struct feed_key);
    __type(value, __u32); /* line */
} gw_feeds SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_XSKMAP);
    __uint(max_entries, 64);
    __type(key, __u32);
    __type(value, __u32);
} gw_xsks SEC(".maps");

struct vlan {
    __be16 tci;
    __be16 proto;
};

SEC("xdp")
int gw_xdp_steer(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data;
    if ((void *)(eth + 1) > end)
        return XDP_PASS;
    __be16 proto = eth->h_proto;
    void *p = eth + 1;
#pragma unroll
    for (int i = 0; i < 2; i++) {
        if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD))
            break;
        struct vlan *v = p;
        if ((void *)(v + 1) > end)
            return XDP_PASS;
        proto = v->proto;
        p = v + 1;
    }
    if (proto != bpf_htons(ETH_P_IP))
        return XDP_PASS;
    struct iphdr *ip = p;
    if ((void *)(ip + 1) > end)
        return XDP_PASS;
    if (ip->protocol != IPPROTO_UDP || (ip->frag_off & bpf_htons(0x3FFF)))
        return XDP_PASS;
    __u32 ihl = (ip->ihl & 0x0F) * 4;
    if (ihl < sizeof(*ip))
        return XDP_PASS;
    struct udphdr *udp = p + ihl;
    if ((void *)(udp + 1) > end)
        return XDP_PASS;
    struct feed_key k = {.addr = ip->daddr, .port = udp->dest, .pad = 0};
    __u32 *line = bpf_map_lookup_elem(&gw_feeds, &k);
    if (!line)
        return XDP_PASS;
    __u32 l = *line;
    /* Stamp on arrival; a driver without metadata room still delivers the
     * frame (userspace then stamps it when it reads the burst). */
    if (bpf_xdp_adjust_meta(ctx, -(int)sizeof(struct gw_xdp_meta)) == 0) {
        void *d = (void *)(long)ctx->data;
        struct gw_xdp_meta *m = (void *)(long)ctx->data_meta;
        if ((void *)(m + 1) <= d) {
            m->rx_ns = bpf_ktime_get_ns();
            m->line = l;
            m->magic = GW_XDP_META_MAGIC;
        }
    }
    return bpf_redirect_map(&gw_xsks, ctx->rx_queue_index, XDP_PASS);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
