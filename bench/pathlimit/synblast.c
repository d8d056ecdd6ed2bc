/* synblast: the minimal batched raw SYN sender that bench/path_limit.sh measures the lab
 * path with. Written for monban's benchmarks; compiled by the script with gcc.
 *
 *   synblast -i IFACE -s SRC_IP -m DST_MAC -t IP[,IP...] -p LO-HI|P[,P...] -n N -r RATE
 *            [-b BATCH] [-w WAIT_MS] [-S SPORT_BASE]
 *
 * Sends N TCP SYNs through an AF_PACKET socket with sendmmsg in batches of BATCH (default
 * 64), paced to RATE probes per second, cycling over targets x ports; probe i carries
 * sequence number i and source port SPORT_BASE + i % 40000, so every reply (SYN/ACK or RST,
 * ack = i + 1) names the probe it answers. A second thread reads replies with recvmmsg on
 * an AF_PACKET socket behind a kernel BPF filter (TCP to SRC_IP, headers only) and marks
 * each probe answered at most once. After the last send it waits WAIT_MS (default 500) for
 * stragglers and prints one line:
 *
 *   sent N secs T rate R answered A synack S rst X dup D rxdrop K
 *
 * rxdrop is the receive socket's own drop count (PACKET_STATISTICS): non-zero means the
 * measurement, not the path, lost replies.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/filter.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAXT 256
#define MAXP 65536
#define MAXB 1024
#define FRAME 54

static uint32_t src_ip, targets[MAXT];
static int ntargets;
static uint16_t ports[MAXP];
static int nports;
static uint64_t nprobes;
static uint16_t sport_base = 20000;
static uint8_t *answered;
static atomic_int stop_rx;
static uint64_t n_answered, n_synack, n_rst, n_dup;

static void die(const char *what) {
    fprintf(stderr, "synblast: %s: %s\n", what, strerror(errno));
    exit(1);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint16_t csum(const void *data, size_t len, uint32_t sum) {
    const uint8_t *p = data;
    for (; len > 1; len -= 2, p += 2) sum += (uint32_t)p[0] << 8 | p[1];
    if (len) sum += (uint32_t)p[0] << 8;
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

static void parse_mac(const char *s, uint8_t mac[6]) {
    unsigned v[6];
    if (sscanf(s, "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6) {
        fprintf(stderr, "synblast: bad MAC %s\n", s);
        exit(2);
    }
    for (int i = 0; i < 6; i++) mac[i] = (uint8_t)v[i];
}

static void parse_targets(char *s) {
    for (char *tok = strtok(s, ","); tok && ntargets < MAXT; tok = strtok(NULL, ",")) {
        struct in_addr a;
        if (inet_pton(AF_INET, tok, &a) != 1) {
            fprintf(stderr, "synblast: bad address %s\n", tok);
            exit(2);
        }
        targets[ntargets++] = a.s_addr;
    }
}

static void parse_ports(char *s) {
    for (char *tok = strtok(s, ","); tok; tok = strtok(NULL, ",")) {
        unsigned lo, hi;
        int k = sscanf(tok, "%u-%u", &lo, &hi);
        if (k == 1) hi = lo;
        if (k < 1 || lo == 0 || hi > 65535 || lo > hi) {
            fprintf(stderr, "synblast: bad ports %s\n", tok);
            exit(2);
        }
        for (unsigned p = lo; p <= hi && nports < MAXP; p++) ports[nports++] = (uint16_t)p;
    }
}

/* Writes probe `i` into `f` (FRAME bytes). */
static void build(uint8_t *f, const uint8_t smac[6], const uint8_t dmac[6], uint64_t i) {
    uint32_t dst = targets[i % ntargets];
    uint16_t dport = ports[(i / ntargets) % nports];
    uint16_t sport = (uint16_t)(sport_base + i % 40000);
    uint32_t seq = (uint32_t)i;
    memcpy(f, dmac, 6);
    memcpy(f + 6, smac, 6);
    f[12] = 0x08; f[13] = 0x00;
    uint8_t *ip = f + 14;
    memset(ip, 0, 40);
    ip[0] = 0x45; ip[3] = 40;
    ip[4] = (uint8_t)(i >> 8); ip[5] = (uint8_t)i;
    ip[8] = 64; ip[9] = 6;
    memcpy(ip + 12, &src_ip, 4);
    memcpy(ip + 16, &dst, 4);
    uint16_t c = csum(ip, 20, 0);
    ip[10] = c >> 8; ip[11] = c & 0xff;
    uint8_t *t = ip + 20;
    t[0] = sport >> 8; t[1] = sport & 0xff;
    t[2] = dport >> 8; t[3] = dport & 0xff;
    t[4] = seq >> 24; t[5] = seq >> 16; t[6] = seq >> 8; t[7] = seq;
    t[12] = 5 << 4; t[13] = 0x02; /* SYN */
    t[14] = 0xfa; t[15] = 0xf0;   /* window 64240 */
    uint8_t pseudo[12];
    memcpy(pseudo, &src_ip, 4);
    memcpy(pseudo + 4, &dst, 4);
    pseudo[8] = 0; pseudo[9] = 6; pseudo[10] = 0; pseudo[11] = 20;
    uint32_t sum = 0;
    for (int k = 0; k < 12; k += 2) sum += (uint32_t)pseudo[k] << 8 | pseudo[k + 1];
    c = csum(t, 20, sum);
    t[16] = c >> 8; t[17] = c & 0xff;
}

static void *rx_loop(void *arg) {
    int fd = *(int *)arg;
    enum { VLEN = 256, SNAP = 128 };
    static uint8_t bufs[VLEN][SNAP];
    struct iovec iov[VLEN];
    struct mmsghdr msgs[VLEN];
    for (int k = 0; k < VLEN; k++) {
        iov[k].iov_base = bufs[k];
        iov[k].iov_len = SNAP;
        memset(&msgs[k], 0, sizeof msgs[k]);
        msgs[k].msg_hdr.msg_iov = &iov[k];
        msgs[k].msg_hdr.msg_iovlen = 1;
    }
    while (!atomic_load(&stop_rx)) {
        /* Blocks at most SO_RCVTIMEO (20 ms) for the first reply, then takes what is queued. */
        int n = recvmmsg(fd, msgs, VLEN, MSG_WAITFORONE, NULL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) continue;
            die("recvmmsg");
        }
        for (int k = 0; k < n; k++) {
            const uint8_t *ip = bufs[k]; /* SOCK_DGRAM: starts at the IP header */
            if (msgs[k].msg_len < 40 || ip[9] != 6) continue;
            unsigned ihl = (ip[0] & 15) * 4;
            if (msgs[k].msg_len < ihl + 20) continue;
            const uint8_t *t = ip + ihl;
            uint16_t dport = (uint16_t)(t[2] << 8 | t[3]);
            uint32_t ack = (uint32_t)t[8] << 24 | t[9] << 16 | t[10] << 8 | t[11];
            uint8_t flags = t[13];
            uint64_t i = (uint32_t)(ack - 1);
            if (i >= nprobes || dport != (uint16_t)(sport_base + i % 40000)) continue;
            if (answered[i]) { n_dup++; continue; }
            answered[i] = 1;
            n_answered++;
            if ((flags & 0x12) == 0x12) n_synack++;
            else if (flags & 0x04) n_rst++;
        }
    }
    return NULL;
}

int main(int argc, char **argv) {
    const char *ifname = NULL;
    uint8_t dmac[6] = {0}, smac[6];
    double rate = 0;
    int batch = 64, wait_ms = 500, have_mac = 0;
    int opt;
    while ((opt = getopt(argc, argv, "i:s:m:t:p:n:r:b:w:S:")) != -1) {
        switch (opt) {
        case 'i': ifname = optarg; break;
        case 's': if (inet_pton(AF_INET, optarg, &src_ip) != 1) { fprintf(stderr, "bad -s\n"); return 2; } break;
        case 'm': parse_mac(optarg, dmac); have_mac = 1; break;
        case 't': parse_targets(optarg); break;
        case 'p': parse_ports(optarg); break;
        case 'n': nprobes = strtoull(optarg, NULL, 10); break;
        case 'r': rate = strtod(optarg, NULL); break;
        case 'b': batch = atoi(optarg); break;
        case 'w': wait_ms = atoi(optarg); break;
        case 'S': sport_base = (uint16_t)atoi(optarg); break;
        default: return 2;
        }
    }
    if (!ifname || !src_ip || !have_mac || !ntargets || !nports || !nprobes || rate <= 0 ||
        batch < 1 || batch > MAXB || nprobes > 0xffffffffull || sport_base > 25535) {
        fprintf(stderr, "usage: synblast -i IFACE -s SRC_IP -m DST_MAC -t IPS -p PORTS -n N -r RATE "
                        "[-b BATCH] [-w WAIT_MS] [-S SPORT_BASE<=25535]\n");
        return 2;
    }
    answered = calloc(nprobes, 1);
    if (!answered) die("calloc");
    int ifindex = (int)if_nametoindex(ifname);
    if (!ifindex) die(ifname);

    int tx = socket(AF_PACKET, SOCK_RAW, 0);
    if (tx < 0) die("socket(AF_PACKET) for sending");
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, IFNAMSIZ, "%s", ifname);
    if (ioctl(tx, SIOCGIFHWADDR, &ifr) < 0) die("SIOCGIFHWADDR");
    memcpy(smac, ifr.ifr_hwaddr.sa_data, 6);
    int one = 1;
    setsockopt(tx, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one);
    struct sockaddr_ll to = {0};
    to.sll_family = AF_PACKET;
    to.sll_ifindex = ifindex;
    to.sll_halen = 6;
    memcpy(to.sll_addr, dmac, 6);

    int rx = socket(AF_PACKET, SOCK_DGRAM, htons(ETH_P_IP));
    if (rx < 0) die("socket(AF_PACKET) for receiving");
    int rcvbuf = 64 << 20;
    if (setsockopt(rx, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) < 0) die("SO_RCVBUFFORCE");
    struct timeval rto = {0, 20000};
    if (setsockopt(rx, SOL_SOCKET, SO_RCVTIMEO, &rto, sizeof rto) < 0) die("SO_RCVTIMEO");
    /* TCP (protocol 6) addressed to src_ip; keep 128 bytes. Offsets are into the IP header. */
    struct sock_filter code[] = {
        {0x30, 0, 0, 9},                 /* ldb [9] */
        {0x15, 0, 3, 6},                 /* jeq #6 */
        {0x20, 0, 0, 16},                /* ld [16] */
        {0x15, 0, 1, ntohl(src_ip)},     /* jeq #src */
        {0x06, 0, 0, 128},               /* ret #128 */
        {0x06, 0, 0, 0},                 /* ret #0 */
    };
    struct sock_fprog prog = {sizeof code / sizeof code[0], code};
    if (setsockopt(rx, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) < 0) die("SO_ATTACH_FILTER");
    struct sockaddr_ll at = {0};
    at.sll_family = AF_PACKET;
    at.sll_protocol = htons(ETH_P_IP);
    at.sll_ifindex = ifindex;
    if (bind(rx, (struct sockaddr *)&at, sizeof at) < 0) die("bind receive socket");
    /* Empty what arrived before the filter was attached. */
    struct tpacket_stats st;
    socklen_t sl = sizeof st;
    uint8_t junk[128];
    while (recv(rx, junk, sizeof junk, MSG_DONTWAIT) >= 0) {}
    getsockopt(rx, SOL_PACKET, PACKET_STATISTICS, &st, &sl);

    pthread_t th;
    if (pthread_create(&th, NULL, rx_loop, &rx) != 0) die("pthread_create");

    static uint8_t frames[MAXB][FRAME];
    struct iovec iov[MAXB];
    struct mmsghdr msgs[MAXB];
    for (int k = 0; k < batch; k++) {
        iov[k].iov_base = frames[k];
        iov[k].iov_len = FRAME;
        memset(&msgs[k], 0, sizeof msgs[k]);
        msgs[k].msg_hdr.msg_name = &to;
        msgs[k].msg_hdr.msg_namelen = sizeof to;
        msgs[k].msg_hdr.msg_iov = &iov[k];
        msgs[k].msg_hdr.msg_iovlen = 1;
    }
    double t0 = now_s();
    uint64_t sent = 0;
    while (sent < nprobes) {
        double t = now_s();
        uint64_t due = (uint64_t)((t - t0) * rate) + 1;
        if (due > nprobes) due = nprobes;
        if (due <= sent || (due - sent < (uint64_t)batch && due < nprobes)) {
            /* Sleep until a whole batch is due. */
            double wake = t0 + (double)(sent + batch) / rate;
            double d = wake - t;
            if (d > 50e-6) {
                struct timespec ts = {(time_t)d, (long)((d - (time_t)d) * 1e9)};
                nanosleep(&ts, NULL);
            }
            continue;
        }
        int n = (int)(due - sent < (uint64_t)batch ? due - sent : (uint64_t)batch);
        for (int k = 0; k < n; k++) build(frames[k], smac, dmac, sent + k);
        int done = sendmmsg(tx, msgs, (unsigned)n, 0);
        if (done < 0) {
            if (errno == ENOBUFS || errno == EAGAIN || errno == EINTR) continue;
            die("sendmmsg");
        }
        sent += (uint64_t)done;
    }
    double secs = now_s() - t0;
    struct timespec w = {wait_ms / 1000, (long)(wait_ms % 1000) * 1000000L};
    nanosleep(&w, NULL);
    atomic_store(&stop_rx, 1);
    pthread_join(th, NULL);
    sl = sizeof st;
    if (getsockopt(rx, SOL_PACKET, PACKET_STATISTICS, &st, &sl) < 0) die("PACKET_STATISTICS");
    printf("sent %llu secs %.4f rate %.0f answered %llu synack %llu rst %llu dup %llu rxdrop %u\n",
           (unsigned long long)sent, secs, sent / secs, (unsigned long long)n_answered,
           (unsigned long long)n_synack, (unsigned long long)n_rst, (unsigned long long)n_dup,
           st.tp_drops);
    return 0;
}
