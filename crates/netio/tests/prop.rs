//! Property tests of the X.509 reader, seeded (splitmix64), no test dependency.
//!
//! Real certificates are made here with the `openssl` command-line tool (it must be
//! installed: without it the test fails, naming it): RSA, P-256, P-384 signed by a CA,
//! Ed25519, short and very long validity (UTCTime and GeneralizedTime), serials with and
//! without a leading zero byte. Each one must read back as `openssl x509 -noout -subject
//! -issuer -dates -serial` prints it; then random bytes, random DER trees and mutated
//! copies of those certificates must give a certificate or a [`CertError`], never a panic,
//! and whatever is read stays within the documented caps.
//!
//! Counts (this crate is built at opt-level 0 in test builds): 400,000 mutated
//! certificates, 100,000 random buffers and 100,000 random DER trees, every truncation and
//! every single-byte change at 8 values of each certificate (about 45,000 more); about
//! 5 seconds in all.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use monban_netio::version::tls::cert_detail;
use monban_netio::version::x509::{
    CertError, CertTime, Certificate, MAX_CERT_BYTES, MAX_ITEMS, MAX_TEXT_CHARS,
};

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
        (self.next() % n.max(1) as u64) as usize
    }
    fn u8(&mut self) -> u8 {
        self.next() as u8
    }
    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.u8()).collect()
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

// ---------------------------------------------------------------------------------------
// Certificates made by openssl.

/// A scratch directory of its own, emptied first.
fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("monban-x509-prop-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("create a scratch directory");
    dir
}

/// Runs openssl in `dir`; fails loudly if it is missing or fails.
fn openssl(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run `openssl` ({e}): install OpenSSL's command-line tool to run this test"
            )
        });
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("openssl prints UTF-8")
}

/// One certificate: its DER bytes and what `openssl x509` prints about it.
struct Made {
    name: &'static str,
    der: Vec<u8>,
    printed: String,
}

/// The certificates, made once for all the tests of this file.
fn made() -> &'static [Made] {
    static MADE: std::sync::OnceLock<Vec<Made>> = std::sync::OnceLock::new();
    MADE.get_or_init(|| {
        let dir = scratch();
        let made = make_certificates(&dir);
        let _ = fs::remove_dir_all(&dir);
        made
    })
}

fn make_certificates(dir: &Path) -> Vec<Made> {
    let self_signed: [(&str, &[&str], &str, &str, &str); 4] = [
        (
            "rsa",
            &["-newkey", "rsa:2048"],
            "/CN=prop.example/O=Monban Prop/C=JP",
            "0x0123456789abcdef",
            "30",
        ),
        (
            "p256",
            &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
            "/CN=p256.prop.test/OU=Unit/L=Kyoto/ST=Kyoto",
            // The high bit set: DER stores a leading zero byte.
            "0x80a1b2c3d4e5f60718293a4b5c6d7e8f90",
            "1",
        ),
        (
            "ed25519",
            &["-newkey", "ed25519"],
            "/CN=ed.prop.test/emailAddress=ops@prop.test",
            "7",
            // Past 2049: GeneralizedTime.
            "40000",
        ),
        (
            "ca",
            &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384"],
            "/CN=Monban Prop CA/O=Monban",
            "0x00ff",
            "3650",
        ),
    ];
    let mut made = Vec::new();
    for (name, key, subj, serial, days) in self_signed {
        let (keyf, pem) = (format!("{name}.key"), format!("{name}.pem"));
        let mut args = vec!["req", "-x509", "-nodes"];
        args.extend_from_slice(key);
        args.extend_from_slice(&[
            "-keyout",
            &keyf,
            "-out",
            &pem,
            "-subj",
            subj,
            "-set_serial",
            serial,
            "-days",
            days,
            "-addext",
            "subjectAltName=DNS:prop.test,DNS:*.prop.test,IP:10.0.0.1,IP:2001:db8::1",
        ]);
        openssl(dir, &args);
        made.push(read_made(dir, name, &pem));
    }
    // A leaf signed by the CA: issuer and subject differ.
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-nodes",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-keyout",
            "leaf.key",
            "-out",
            "leaf.csr",
            "-subj",
            "/CN=leaf.prop.test/O=Monban Leaf",
            "-addext",
            "subjectAltName=DNS:leaf.prop.test",
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-set_serial",
            "0x1000000000000000000000000000000000000001",
            "-days",
            "90",
            "-copy_extensions",
            "copyall",
            "-out",
            "leaf.pem",
        ],
    );
    made.push(read_made(dir, "leaf", "leaf.pem"));
    made
}

fn read_made(dir: &Path, name: &'static str, pem: &str) -> Made {
    let der_file = format!("{name}.der");
    openssl(
        dir,
        &["x509", "-in", pem, "-outform", "DER", "-out", &der_file],
    );
    let printed = openssl(
        dir,
        &[
            "x509", "-in", pem, "-noout", "-subject", "-issuer", "-dates", "-serial",
        ],
    );
    let der = fs::read(dir.join(&der_file)).expect("read the DER file");
    Made { name, der, printed }
}

/// The value after `key=` on its own line of openssl's output.
fn printed<'a>(out: &'a str, key: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
        .unwrap_or_else(|| panic!("openssl printed no {key}: {out}"))
}

/// An attribute of openssl's one-line name (`CN = a, O = b`).
fn attr<'a>(name: &'a str, short: &str) -> Option<&'a str> {
    name.split(", ")
        .find_map(|part| part.strip_prefix(short)?.strip_prefix(" = "))
}

/// openssl's `Nov 21 07:59:39 2026 GMT` as ours, `2026-11-21T07:59:39Z`.
fn openssl_time(s: &str) -> String {
    let w: Vec<&str> = s.split_whitespace().collect();
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = 1 + months.iter().position(|m| *m == w[0]).expect("a month");
    let day: u8 = w[1].parse().expect("a day");
    assert_eq!(w[4], "GMT");
    format!("{}-{month:02}-{day:02}T{}Z", w[3], w[2])
}

#[test]
fn openssl_certificates_read_as_openssl_prints_them() {
    for m in made() {
        let c = Certificate::parse(&m.der)
            .unwrap_or_else(|e| panic!("{}: {e}: {}", m.name, hex(&m.der)));
        let ctx = format!("{}: openssl printed\n{}\nwe read {c:#?}", m.name, m.printed);
        let (subject, issuer) = (
            printed(&m.printed, "subject"),
            printed(&m.printed, "issuer"),
        );
        for (ours, theirs) in [(&c.subject, subject), (&c.issuer, issuer)] {
            assert_eq!(ours.common_name(), attr(theirs, "CN"), "{ctx}");
            assert!(ours.common_name().is_some(), "{ctx}");
            for short in ["O", "OU", "C", "ST", "L", "emailAddress"] {
                let mine = ours.attrs.iter().find(|(a, _)| a.short() == short);
                assert_eq!(
                    mine.map(|(_, v)| v.as_str()),
                    attr(theirs, short),
                    "{short}: {ctx}"
                );
            }
        }
        // openssl prints the serial in upper case, padded to whole bytes.
        let serial = printed(&m.printed, "serial");
        assert_eq!(
            c.serial.trim_start_matches('0'),
            serial.to_ascii_lowercase().trim_start_matches('0'),
            "{ctx}"
        );
        assert_eq!(
            c.not_before.to_string(),
            openssl_time(printed(&m.printed, "notBefore")),
            "{ctx}"
        );
        assert_eq!(
            c.not_after.to_string(),
            openssl_time(printed(&m.printed, "notAfter")),
            "{ctx}"
        );
        assert!(c.not_before.unix() < c.not_after.unix(), "{ctx}");
        if m.name != "leaf" {
            assert_eq!(c.subject, c.issuer, "{ctx}");
            assert_eq!(c.dns_names, ["prop.test", "*.prop.test"], "{ctx}");
            assert_eq!(c.ip_addrs.len(), 2, "{ctx}");
        } else {
            assert_ne!(c.subject, c.issuer, "{ctx}");
            assert_eq!(c.dns_names, ["leaf.prop.test"], "{ctx}");
        }
        assert!(c.key.is_some(), "{ctx}");
    }
}

// ---------------------------------------------------------------------------------------
// Hostile input.

/// Reads `der` through the reader and the report's form of it; fails with the seed, the
/// iteration and the input if either panics or breaks a documented cap.
fn check(what: &str, seed: u64, i: usize, der: &[u8]) -> Result<(), CertError> {
    let ctx = || {
        format!(
            "{what}: seed {seed:#x} iteration {i}, input ({} bytes) {}",
            der.len(),
            hex(der)
        )
    };
    let got = std::panic::catch_unwind(|| {
        let r = Certificate::parse(der);
        if let Ok(c) = &r {
            // Everything that shows a certificate works on what was read.
            let _ = (c.not_before.unix(), c.not_after.unix());
            let _ = (c.subject.to_string(), c.issuer.to_string());
            let _ = (
                c.not_before.to_string(),
                c.key.as_ref().map(|k| k.to_string()),
            );
            let _ = cert_detail(der);
        } else if let Err(e) = &r {
            let _ = e.to_string();
        }
        r
    })
    .unwrap_or_else(|_| panic!("the X.509 reader panicked: {}", ctx()));
    if let Ok(c) = &got {
        for n in [&c.subject, &c.issuer] {
            assert!(n.attrs.len() <= MAX_ITEMS, "{}", ctx());
            for (_, v) in &n.attrs {
                assert!(v.chars().count() <= MAX_TEXT_CHARS, "{}", ctx());
            }
        }
        assert!(c.dns_names.len() <= MAX_ITEMS, "{}", ctx());
        assert!(c.ip_addrs.len() <= MAX_ITEMS, "{}", ctx());
        for d in &c.dns_names {
            assert!(d.chars().count() <= MAX_TEXT_CHARS, "{}", ctx());
        }
        assert!(c.serial.len() <= 2 * der.len(), "{}", ctx());
        valid_time(c.not_before, &ctx);
        valid_time(c.not_after, &ctx);
    }
    got.map(|_| ())
}

fn valid_time(t: CertTime, ctx: &dyn Fn() -> String) {
    assert!(
        (1..=12).contains(&t.month)
            && (1..=31).contains(&t.day)
            && t.hour < 24
            && t.minute < 60
            && t.second < 60,
        "{t:?}: {}",
        ctx()
    );
}

const INTERESTING: [u8; 12] = [
    0x00, 0x01, 0x7f, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0xff, 0x30, 0x1f,
];

/// One to four changes: byte set, bit flip, interesting byte (tags and length forms), cut,
/// insert, delete, or a duplicated chunk.
fn mutate(rng: &mut Rng, v: &mut Vec<u8>) {
    for _ in 0..1 + rng.below(4) {
        let len = v.len();
        match rng.below(7) {
            0 if len > 0 => {
                let i = rng.below(len);
                v[i] = rng.u8();
            }
            1 if len > 0 => {
                let i = rng.below(len);
                v[i] ^= 1 << rng.below(8);
            }
            2 if len > 0 => {
                let i = rng.below(len);
                v[i] = INTERESTING[rng.below(INTERESTING.len())];
            }
            3 => v.truncate(rng.below(len + 1)),
            4 => {
                let at = rng.below(len + 1);
                let n = 1 + rng.below(8);
                let junk = rng.bytes(n);
                v.splice(at..at, junk);
            }
            5 if len > 0 => {
                let at = rng.below(len);
                let n = (1 + rng.below(8)).min(len - at);
                v.drain(at..at + n);
            }
            _ if len > 0 => {
                let from = rng.below(len);
                let n = rng.below(len - from + 1).min(128);
                let chunk = v[from..from + n].to_vec();
                let to = rng.below(len + 1);
                v.splice(to..to, chunk);
            }
            _ => {}
        }
    }
}

/// A random DER tree: constructed and primitive elements of certificate tags, with
/// correct lengths, so the reader gets deep before something is wrong.
fn random_der(rng: &mut Rng, depth: usize) -> Vec<u8> {
    const TAGS: [u8; 16] = [
        0x30, 0x31, 0xa0, 0xa3, 0x02, 0x03, 0x04, 0x06, 0x01, 0x17, 0x18, 0x0c, 0x13, 0x1e, 0x82,
        0x87,
    ];
    let tag = TAGS[rng.below(TAGS.len())];
    let value = if depth > 0 && (tag & 0x20 != 0 || rng.below(4) == 0) {
        let mut v = Vec::new();
        for _ in 0..rng.below(5) {
            v.extend(random_der(rng, depth - 1));
        }
        v
    } else {
        match tag {
            0x06 => [
                &[0x55, 0x04, 0x03][..],
                &[0x55, 0x1d, 0x11],
                &[0x2a, 0x86, 0x48],
            ][rng.below(3)]
            .to_vec(),
            0x17 => b"260101000000Z".to_vec(),
            0x18 => b"20991231235959Z".to_vec(),
            _ => {
                let n = rng.below(20);
                rng.bytes(n)
            }
        }
    };
    let mut out = vec![tag];
    match value.len() {
        n @ 0..=0x7f => out.push(n as u8),
        n @ 0x80..=0xff => out.extend([0x81, n as u8]),
        n => out.extend([0x82, (n >> 8) as u8, n as u8]),
    }
    out.extend(value);
    out
}

#[test]
fn random_and_mutated_der_never_panics() {
    const SEED: u64 = 0x6d6f_6e62_616e_7835;
    let made = made();
    let mut rng = Rng(SEED);
    let mut outcomes = [0usize; 2];
    let mut tally = |r: Result<(), CertError>| outcomes[usize::from(r.is_ok())] += 1;

    for i in 0..400_000 {
        let mut der = made[rng.below(made.len())].der.clone();
        mutate(&mut rng, &mut der);
        tally(check("mutated certificate", SEED, i, &der));
    }
    for i in 0..100_000 {
        let n = rng.below(if i % 16 == 0 { 4096 } else { 256 });
        let mut b = rng.bytes(n);
        if n > 2 && rng.below(2) == 0 {
            b[0] = 0x30; // a SEQUENCE to get past the first check
        }
        tally(check("random bytes", SEED, i, &b));
    }
    for i in 0..100_000 {
        let d = random_der(&mut rng, 6);
        tally(check("random DER", SEED, i, &d));
    }
    // Some mutants still read (a changed name or key byte): both outcomes are reached.
    assert!(
        outcomes.iter().all(|&n| n > 1_000),
        "{outcomes:?} (errors, ok)"
    );

    // Exhaustive on the real certificates: every truncation is an error, and every byte
    // set to each of 8 values reads or errors cleanly.
    for m in made {
        for n in 0..m.der.len() {
            assert!(
                check("truncation", SEED, n, &m.der[..n]).is_err(),
                "{}: a {n}-byte prefix read",
                m.name
            );
        }
        let mut der = m.der.clone();
        for at in 0..der.len() {
            let keep = der[at];
            for v in [0x00, 0x01, 0x30, 0x7f, 0x80, 0x84, 0xff, keep ^ 0x20] {
                der[at] = v;
                let _ = check("single byte change", SEED, at, &der);
            }
            der[at] = keep;
        }
        // Past the size cap: refused before reading.
        let mut big = m.der.clone();
        big.resize(MAX_CERT_BYTES + 1, 0);
        assert_eq!(Certificate::parse(&big), Err(CertError::TooLong));
    }
}
