# Fixture generator for src/testdata.rs: builds each packet field by field with `struct`
# and computes checksums in Python, independently of the crate's checksum code.
# Usage: python3 testdata/fixtures.py > /tmp/fixtures.rs, then compare with src/testdata.rs.
import struct, ipaddress

def csum(b):
    if len(b) % 2: b += b'\0'
    s = sum(struct.unpack('!%dH' % (len(b)//2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return s

def fin(b): return (~csum(b)) & 0xffff

def v4(a): return ipaddress.IPv4Address(a).packed
def v6(a): return ipaddress.IPv6Address(a).packed

def ip4(src, dst, proto, payload, ttl=64, ident=0, flags_off=0x4000, opts=b'', total=None):
    ihl = 5 + len(opts)//4
    tl = total if total is not None else ihl*4 + len(payload)
    h = struct.pack('!BBHHHBBH4s4s', 0x40|ihl, 0, tl, ident, flags_off, ttl, proto, 0, v4(src), v4(dst)) + opts
    c = fin(h)
    h = h[:10] + struct.pack('!H', c) + h[12:]
    return h + payload

def ip6(src, dst, nh, payload, hop=64, plen=None):
    pl = len(payload) if plen is None else plen
    return struct.pack('!IHBB16s16s', 0x60000000, pl, nh, hop, v6(src), v6(dst)) + payload

def ph4(src, dst, proto, ln): return v4(src)+v4(dst)+struct.pack('!BBH', 0, proto, ln)
def ph6(src, dst, nh, ln): return v6(src)+v6(dst)+struct.pack('!I3xB', ln, nh)

def tcp(src, dst, sp, dp, seq, ack, flags, win, opts=b'', payload=b'', fam=4, urg=0):
    off = 5 + len(opts)//4
    h = struct.pack('!HHIIBBHHH', sp, dp, seq, ack, off<<4, flags, win, 0, urg) + opts + payload
    ph = (ph4 if fam == 4 else ph6)(src, dst, 6, len(h))
    c = fin(ph + h)
    return h[:16] + struct.pack('!H', c) + h[18:]

def udp(src, dst, sp, dp, payload, fam=4):
    h = struct.pack('!HHHH', sp, dp, 8+len(payload), 0) + payload
    ph = (ph4 if fam == 4 else ph6)(src, dst, 17, len(h))
    c = fin(ph + h)
    if c == 0: c = 0xffff
    return h[:6] + struct.pack('!H', c) + h[8:]

def icmp4(t, code, rest4, data):
    m = struct.pack('!BBH', t, code, 0) + rest4 + data
    return m[:2] + struct.pack('!H', fin(m)) + m[4:]

def icmp6(src, dst, t, code, rest4, data):
    m = struct.pack('!BBH', t, code, 0) + rest4 + data
    c = fin(ph6(src, dst, 58, len(m)) + m)
    return m[:2] + struct.pack('!H', c) + m[4:]

def rust(name, b, note):
    print('/// ' + note)
    print('pub const %s: [u8; %d] = [' % (name, len(b)))
    for i in range(0, len(b), 16):
        print('    ' + ' '.join('0x%02x,' % x for x in b[i:i+16]))
    print('];\n')

A, B = '192.168.56.1', '192.168.56.20'
# A: Linux SYN/ACK with MSS, SACK-permitted, timestamps, NOP, window scale 7
opts = bytes([2,4,0x05,0xb4, 4,2, 8,10]) + struct.pack('!II', 0x8a1b2c3d, 0x00112233) + bytes([1, 3,3,7])
t = tcp(B, A, 22, 51234, 0x1c2d3e4f, 0x0a0b0c0e, 0x12, 65160, opts)
synack = ip4(B, A, 6, t)
rust('V4_SYNACK', synack, 'Linux-style SYN/ACK 192.168.56.20:22 -> 192.168.56.1:51234, MSS 1460, SACK-perm, TS, NOP, WS 7.')

t = tcp(B, A, 23, 51234, 0, 0x0a0b0c0e, 0x14, 0)
rst = ip4(B, A, 6, t)
rust('V4_RST', rst, 'RST/ACK from closed port 23, window 0.')

# C: admin prohibited quoting the first 28 bytes of a SYN with MSS (inner total length 44)
inner = ip4(A, '10.9.8.7', 6, b'', ttl=1, ident=0x1234, flags_off=0, total=44)
inner_tcp8 = struct.pack('!HHI', 51234, 443, 0xdeadbeef)
icmp = icmp4(3, 13, b'\0\0\0\0', inner + inner_tcp8)
adm = ip4('192.168.56.254', A, 1, icmp, ttl=63, ident=0x4d2, flags_off=0)
rust('V4_ADMIN_PROHIBITED', adm, 'ICMP type 3 code 13 from 192.168.56.254 quoting 28 bytes of a SYN 192.168.56.1:51234 -> 10.9.8.7:443 seq 0xdeadbeef.')

# D: ICMPv6 port unreachable quoting a UDP datagram 2001:db8::1:53000 -> 2001:db8::2:161 with 4 bytes payload
P, Q = '2001:db8::1', '2001:db8::2'
u = udp(P, Q, 53000, 161, b'\x30\x26\x02\x01', fam=6)
inner6 = ip6(P, Q, 17, u)
m = icmp6(Q, P, 1, 4, b'\0\0\0\0', inner6)
pu6 = ip6(Q, P, 58, m)
rust('V6_PORT_UNREACHABLE', pu6, 'ICMPv6 type 1 code 4 from 2001:db8::2 quoting UDP 2001:db8::1:53000 -> 2001:db8::2:161.')

# E: IPv4 with a Router Alert option, UDP 10.0.0.1:5353 -> 10.0.0.2:53 'abc', then 2 bytes of link padding
u = udp('10.0.0.1', '10.0.0.2', 5353, 53, b'abc')
e = ip4('10.0.0.1', '10.0.0.2', 17, u, ttl=1, ident=0x0102, flags_off=0, opts=bytes([0x94, 4, 0, 0]))
rust('V4_OPTIONS_UDP', e + b'\0\0', 'IPv4 with Router Alert option (IHL 6), UDP 10.0.0.1:5353 -> 10.0.0.2:53 "abc", 2 trailing pad bytes.')

# F: IPv6 hop-by-hop + destination options + fragment (first, M=1) + TCP SYN
t = tcp(P, Q, 40000, 80, 0x01020304, 0, 0x02, 64800, bytes([2,4,0x05,0xa0]), fam=6)
frag = struct.pack('!BBHI', 6, 0, 0x0001, 0xabcdef01)
dest = bytes([44, 0, 1, 4, 0, 0, 0, 0])
hbh = bytes([60, 0, 1, 4, 0, 0, 0, 0])
f = ip6(P, Q, 0, hbh + dest + frag + t, hop=57)
rust('V6_EXT_SYN', f, 'IPv6 hop-by-hop + dest-opts + fragment (offset 0, M) + TCP SYN 2001:db8::1:40000 -> 2001:db8::2:80, MSS 1440.')

# G: IPv6 non-first fragment (offset 185*8), next header UDP
frag = struct.pack('!BBHI', 17, 0, 185 << 3, 0xabcdef02)
g = ip6(P, Q, 44, frag + b'\x11' * 16, hop=60)
rust('V6_LATER_FRAGMENT', g, 'IPv6 non-first fragment (offset 1480), next header UDP.')

# H: IPv4 non-first fragment, offset 185 (1480 bytes), UDP
h = ip4('10.0.0.2', '10.0.0.1', 17, b'\x22' * 12, ttl=64, ident=0x7777, flags_off=185)
rust('V4_LATER_FRAGMENT', h, 'IPv4 non-first fragment (offset 1480), protocol UDP.')

# I: echo replies
e4 = ip4('10.0.0.2', '10.0.0.1', 1, icmp4(0, 0, struct.pack('!HH', 0x1234, 7), b'monban!!'), ttl=64, ident=0xbeef, flags_off=0)
rust('V4_ECHO_REPLY', e4, 'ICMP echo reply 10.0.0.2 -> 10.0.0.1 ident 0x1234 seq 7 "monban!!".')
e6 = ip6(Q, P, 58, icmp6(Q, P, 129, 0, struct.pack('!HH', 0x1234, 7), b'monban!!'), hop=64)
rust('V6_ECHO_REPLY', e6, 'ICMPv6 echo reply 2001:db8::2 -> 2001:db8::1 ident 0x1234 seq 7 "monban!!".')

# J: ICMPv4 time exceeded quoting a full UDP datagram (Linux quotes everything)
u = udp('10.0.0.1', '10.0.0.9', 33434, 33435, b'probe', )
inner = ip4('10.0.0.1', '10.0.0.9', 17, u, ttl=1, ident=0x0042, flags_off=0)
j = ip4('10.0.0.254', '10.0.0.1', 1, icmp4(11, 0, b'\0\0\0\0', inner), ttl=255, ident=0x0101, flags_off=0)
rust('V4_TIME_EXCEEDED_UDP', j, 'ICMP time exceeded from 10.0.0.254 quoting a full UDP datagram 10.0.0.1:33434 -> 10.0.0.9:33435.')

# K: ICMPv6 packet too big (MTU 1280) quoting IPv6 + dest-opts + 8 bytes of TCP
inner = ip6(P, '2001:db8::99', 60, bytes([6, 0, 1, 4, 0, 0, 0, 0]) + struct.pack('!HHI', 40001, 443, 0x11223344), plen=1400)
k = ip6('2001:db8::fe', P, 58, icmp6('2001:db8::fe', P, 2, 0, struct.pack('!I', 1280), inner), hop=63)
rust('V6_PACKET_TOO_BIG', k, 'ICMPv6 packet too big (MTU 1280) from 2001:db8::fe quoting IPv6 + dest-opts + 8 TCP bytes 40001 -> 443 seq 0x11223344.')

# Expected builder outputs
t = tcp('10.0.0.1', '10.0.0.2', 40000, 80, 0x01020304, 0, 0x02, 1024, bytes([2,4,5,0xb4]))
b1 = ip4('10.0.0.1', '10.0.0.2', 6, t, ttl=64, ident=0x3039, flags_off=0)
rust('BUILT_V4_SYN', b1, 'build_tcp: SYN 10.0.0.1:40000 -> 10.0.0.2:80 seq 0x01020304 window 1024 TTL 64 id 12345, MSS 1460.')
# Window scale 10 alone (3 bytes), padded with one zero byte to 4.
t = tcp(P, Q, 40000, 443, 0xfffffffe, 0, 0x29, 65535, bytes([3,3,10,0]), fam=6)
b2 = ip6(P, Q, 6, t, hop=128)
rust('BUILT_V6_XMAS', b2, 'build_tcp: FIN|PSH|URG 2001:db8::1:40000 -> 2001:db8::2:443 seq 0xfffffffe window 65535 hop 128, WS 10 padded.')
u = udp(P, Q, 53000, 53, b'\x12\x34\x01\x00', fam=6)
b3 = ip6(P, Q, 17, u, hop=64)
rust('BUILT_V6_UDP', b3, 'build_udp: 2001:db8::1:53000 -> 2001:db8::2:53, 4-byte payload, hop 64.')
u = udp('10.0.0.1', '10.0.0.2', 53000, 161, b'')
b4 = ip4('10.0.0.1', '10.0.0.2', 17, u, ttl=64, ident=1, flags_off=0)
rust('BUILT_V4_UDP_EMPTY', b4, 'build_udp: 10.0.0.1:53000 -> 10.0.0.2:161, empty payload, id 1.')
b5 = ip4('10.0.0.1', '10.0.0.2', 1, icmp4(8, 0, struct.pack('!HH', 0xabcd, 1), b''), ttl=64, ident=0x1111, flags_off=0)
rust('BUILT_V4_ECHO', b5, 'build_echo: 10.0.0.1 -> 10.0.0.2 ident 0xabcd seq 1, no payload.')
b6 = ip6(P, Q, 58, icmp6(P, Q, 128, 0, struct.pack('!HH', 0xabcd, 2), b'ping'), hop=64)
rust('BUILT_V6_ECHO', b6, 'build_echo: 2001:db8::1 -> 2001:db8::2 ident 0xabcd seq 2 "ping".')
