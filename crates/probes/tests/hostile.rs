//! Hostile replies: random bytes, mutated real replies, huge banners, invalid UTF-8, NULs.
//! `identify` must never panic, must stay fast, and what it reports must be printable.

mod common;

use std::time::{Duration, Instant};

use common::*;
use monban_probes::{ServiceMatch, MAX_FIELD_CHARS, MAX_REPLY_BYTES};

/// splitmix64: a tiny seeded generator, so every run tests the same inputs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

/// Every field printable: no control characters other than the escapes we write.
fn assert_printable(m: &ServiceMatch) {
    let fields = [
        Some(&m.service),
        m.product.as_ref(),
        m.version.as_ref(),
        m.info.as_ref(),
        m.hostname.as_ref(),
        m.os.as_ref(),
    ];
    for f in fields.into_iter().flatten().chain(m.cpe.iter()) {
        assert!(!f.chars().any(char::is_control), "control char in {f:?}");
        assert!(f.chars().count() <= MAX_FIELD_CHARS + 1, "over-long {f:?}");
        assert_eq!(f.trim(), f, "untrimmed {f:?}");
        assert!(!f.is_empty());
    }
}

/// Real-looking replies to start mutations from, so random changes reach deep into rules.
fn seeds() -> Vec<Vec<u8>> {
    vec![
        b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n".to_vec(),
        b"220 mail.example.org ESMTP Postfix (Debian/GNU)\r\n".to_vec(),
        b"HTTP/1.1 200 OK\r\nServer: Apache/2.4.62 (Debian)\r\n\r\n<title>x</title>".to_vec(),
        b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\n\r\n{\"cluster_name\" : \"c\", \"version\" : { \"number\" : \"8.1.0\" }, \"You Know, for Search\"}".to_vec(),
        dns_version_reply("dnsmasq-2.89"),
        snmp_response(b"\x2b\x06\x01\x04\x01\xbf\x08\x03\x02\x0a", "Linux h 6.1.0 x86_64"),
        mysql_handshake("5.5.5-10.11.6-MariaDB-0+deb12u1"),
        smb2_negotiate_response(0x02ff),
        op_msg_reply(&bson(&[bson_str("version", "7.0.12"), bson_i32("maxWireVersion", 21)])),
        amqp_connection_start(&[amqp_str("product", "RabbitMQ"), amqp_str("version", "3.10.8")]),
        pg_error(&[(b'S', "FATAL"), (b'C', "0A000"), (b'M', "server supports 3.0 to 3.0")]),
        b"\x03\x00\x00\x13\x0e\xd0\x00\x00\x12\x34\x00\x02\x1f\x08\x00\x02\x00\x00\x00".to_vec(),
        b"$40\r\n# Server\r\nredis_version:7.0.15\r\nos:Linux\r\n\r\n".to_vec(),
    ]
}

fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let mut v = seed.to_vec();
    for _ in 0..=rng.below(4) {
        match rng.below(5) {
            0 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] = rng.next() as u8;
            }
            1 if !v.is_empty() => {
                v.truncate(rng.below(v.len()));
            }
            2 => {
                let i = rng.below(v.len() + 1);
                let n = rng.below(64);
                let extra = rng.bytes(n);
                v.splice(i..i, extra);
            }
            3 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] = [0x00, 0xff, b'\r', b'\n', 0x1b, 0x80][rng.below(6)];
            }
            _ => {
                let n = rng.below(8);
                let tail = v[v.len().saturating_sub(n)..].to_vec();
                let times = rng.below(200);
                v.extend_from_slice(&tail.repeat(times));
            }
        }
    }
    v
}

#[test]
fn random_and_mutated_replies_never_panic_and_stay_fast() {
    let db = db();
    let seeds = seeds();
    let mut rng = Rng(0x6d6f_6e62_616e_0001);
    let mut slowest = Duration::ZERO;
    let mut matched = 0usize;
    let start = Instant::now();
    for probe in db.probes() {
        for round in 0..500 {
            let reply = if round % 3 == 0 {
                let len = rng.below(2048);
                rng.bytes(len)
            } else {
                let seed = &seeds[rng.below(seeds.len())];
                mutate(&mut rng, seed)
            };
            let t = Instant::now();
            let got = db.identify(probe, &reply);
            slowest = slowest.max(t.elapsed());
            if let Some(m) = got {
                assert_printable(&m);
                matched += 1;
            }
        }
    }
    // Mutations keep many replies recognisable, so matching code paths ran.
    assert!(matched > 700, "only {matched} matches");
    // Generous bounds for an unoptimised build on a shared machine; linear-time regexes
    // keep the real figure far below them.
    assert!(
        slowest < Duration::from_secs(2),
        "slowest identify took {slowest:?}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(120),
        "took {:?}",
        start.elapsed()
    );
}

#[test]
fn one_mebibyte_banner_is_cut_at_the_cap() {
    let db = db();
    let null = db.null_probe().unwrap();
    let get = db.probe("GetRequest").unwrap();

    // 1 MiB with no line end: no rule can finish, only 16 KiB are looked at.
    let mut huge = b"220 ".to_vec();
    huge.resize(1 << 20, b'A');
    let t = Instant::now();
    assert_eq!(db.identify(null, &huge), None);
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());

    // A real header, then a megabyte of header lines: found, and quickly.
    let mut http = b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\n".to_vec();
    while http.len() < (1 << 20) {
        http.extend_from_slice(b"X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
    }
    let t = Instant::now();
    assert_eq!(
        db.identify(get, &http),
        M::hard("http")
            .product("nginx")
            .version("1.22.1")
            .cpe("cpe:/a:nginx:nginx:1.22.1")
            .done()
    );
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());

    // A title that runs past the cap is cut at the cap, then to MAX_FIELD_CHARS with `…`.
    let mut long_title = b"HTTP/1.1 200 OK\r\n\r\n<title>".to_vec();
    long_title.resize(MAX_REPLY_BYTES * 4, b'x');
    let m = db.identify(get, &long_title).unwrap();
    let info = m.info.unwrap();
    assert!(info.starts_with("title: xxx"));
    assert_eq!(info.chars().count(), MAX_FIELD_CHARS + 1);
    assert!(info.ends_with('…'));
}

#[test]
fn pathological_repetition_stays_linear() {
    let db = db();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("GetRequest", b"HTTP/1.1 200 OK\r\n".repeat(1000)),
        (
            "GetRequest",
            [&b"HTTP/1.1 200 OK\r\n"[..], &b"a: b\r\n".repeat(3000)].concat(),
        ),
        (
            "GetRequest",
            [&b"HTTP/1.1 200 OK\r\n\r\n"[..], &b"<title".repeat(3000)].concat(),
        ),
        ("SNMPv1GetRequest", b"\x30\x81\x82".repeat(6000)),
        ("DNSVersionBind", b"mb\x80\x00\x00\x01\x00\x01".repeat(2000)),
        ("NULL", b"\xff\xfb\x01".repeat(6000)),
        (
            "MongoIsMaster",
            [
                &op_msg_reply(b"")[..],
                &b"\x10maxWireVersion\x00".repeat(1000),
            ]
            .concat(),
        ),
        (
            "AMQPHeader",
            [
                &b"\x01\x00\x00\x00\x00\x00\x00\x00\x0a\x00\x0a\x00\x09"[..],
                &b"\x07productS".repeat(1500),
            ]
            .concat(),
        ),
    ];
    for (probe, reply) in cases {
        let p = db.probe(probe).unwrap();
        let t = Instant::now();
        if let Some(m) = db.identify(p, &reply) {
            assert_printable(&m);
        }
        assert!(
            t.elapsed() < Duration::from_secs(2),
            "{probe}: {:?}",
            t.elapsed()
        );
    }
}

#[test]
fn invalid_utf8_and_escape_sequences_in_captures() {
    assert_eq!(
        id(
            "NULL",
            b"SSH-2.0-OpenSSH_9.2p1 caf\xc3\xa9 \xff\xfe \x1b[2J\r\n"
        ),
        M::hard("ssh")
            .product("OpenSSH")
            .version("9.2p1")
            .info("caf\u{e9} \u{fffd}\u{fffd} \\x1b[2J; protocol 2.0")
            .cpe("cpe:/a:openbsd:openssh:9.2p1")
            .done()
    );
}

#[test]
fn nul_bytes_in_replies() {
    // NUL inside a title is shown escaped, not dropped and not passed through.
    assert_eq!(
        id(
            "GetRequest",
            b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\n\r\n<title>a\x00b\x07</title>"
        ),
        M::hard("http")
            .product("nginx")
            .version("1.22.1")
            .info("title: a\\x00b")
            .cpe("cpe:/a:nginx:nginx:1.22.1")
            .done()
    );
    // A NUL where the banner's line end belongs: not vsftpd, but still an FTP greeting.
    assert_eq!(
        id("NULL", b"220 (vsFTPd 3.0.3)\x00\r\n"),
        M::soft("ftp").done()
    );
    // All-NUL replies match nothing anywhere.
    let db = db();
    for p in db.probes() {
        assert_eq!(db.identify(p, &[0u8; 4096]), None, "{}", p.name());
        assert_eq!(db.identify(p, &[]), None, "{}", p.name());
    }
}
