//! A host report in rows and back: ports as runs, version and risk details as JSON.
//!
//! A full-range scan gives 65,536 port results per host, nearly all alike. They are stored
//! as runs: consecutive ports of one protocol with the same state, reason and TTL become one
//! row `(proto, lo, hi, state, reason, ttl)`, so a host with 7 open ports among 65,535
//! closed ones is about 15 rows, and the report comes back exactly (every port, every
//! reason), so that `monban show` writes every output format as the scan did.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use monban_engine::types::{CertDetail, RiskNote, ServiceDetail, TlsDetail};
use monban_engine::{PortResult, PortState, Protocol, Reason};
use serde_json::{json, Value as J};

/// One run of alike ports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortRun {
    /// Protocol.
    pub proto: Protocol,
    /// First port.
    pub lo: u16,
    /// Last port (inclusive).
    pub hi: u16,
    /// Their state.
    pub state: PortState,
    /// Their reason.
    pub reason: Reason,
    /// Their reply TTL.
    pub ttl: Option<u8>,
}

/// Runs of `ports` (any order; sorted here by protocol then port).
pub fn runs(ports: &[PortResult]) -> Vec<PortRun> {
    let mut sorted: Vec<&PortResult> = ports.iter().collect();
    sorted.sort_by_key(|p| (p.proto, p.port));
    let mut out: Vec<PortRun> = Vec::new();
    for p in sorted {
        if let Some(r) = out.last_mut() {
            let same =
                r.proto == p.proto && r.state == p.state && r.reason == p.reason && r.ttl == p.ttl;
            if same && u32::from(r.hi) + 1 == u32::from(p.port) {
                r.hi = p.port;
                continue;
            }
        }
        out.push(PortRun {
            proto: p.proto,
            lo: p.port,
            hi: p.port,
            state: p.state,
            reason: p.reason,
            ttl: p.ttl,
        });
    }
    out
}

/// Port results of `runs`, sorted by protocol then port; a port in two runs (never written
/// so, but a hand-edited database might) is kept once, from the first run.
pub fn expand(runs: &[PortRun]) -> Vec<PortResult> {
    let mut out: Vec<PortResult> = runs
        .iter()
        .flat_map(|r| {
            (r.lo..=r.hi).map(move |port| PortResult {
                port,
                proto: r.proto,
                state: r.state,
                reason: r.reason,
                ttl: r.ttl,
            })
        })
        .collect();
    out.sort_by_key(|p| (p.proto, p.port));
    out.dedup_by_key(|p| (p.proto, p.port));
    out
}

/// Seconds since the Unix epoch.
pub fn secs(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The time `secs` after the Unix epoch, to the microsecond (a double holds today's
/// times to about a quarter of one); negative or absurd values give the epoch.
pub fn time(secs: f64) -> SystemTime {
    if secs.is_finite() && secs > 0.0 && secs < 1e12 {
        UNIX_EPOCH + Duration::from_micros((secs * 1e6).round() as u64)
    } else {
        UNIX_EPOCH
    }
}

fn pairs(v: &[(String, String)]) -> J {
    v.iter().map(|(k, x)| json!([k, x])).collect()
}

fn pairs_back(v: &J) -> Vec<(String, String)> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|p| {
                    Some((
                        p.get(0)?.as_str()?.to_string(),
                        p.get(1)?.as_str()?.to_string(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn string(v: &J, k: &str) -> Option<String> {
    v.get(k).and_then(J::as_str).map(str::to_string)
}

fn strings(v: &J, k: &str) -> Vec<String> {
    v.get(k)
        .and_then(J::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// A version-detection result as JSON text.
pub fn service_json(s: &ServiceDetail) -> String {
    let tls = s.tls.as_ref().map(|t| {
        json!({
            "version": t.version,
            "cipher": t.cipher,
            "cert": t.cert.as_ref().map(|c| json!({
                "subject": pairs(&c.subject),
                "issuer": pairs(&c.issuer),
                "not_before": c.not_before,
                "not_after": c.not_after,
                "alt_names": c.alt_names,
                "key": c.key,
                "signature": c.signature,
                "sha256": c.sha256,
            })),
            "cert_error": t.cert_error,
        })
    });
    json!({
        "name": s.name,
        "product": s.product,
        "version": s.version,
        "info": s.info,
        "hostname": s.hostname,
        "os": s.os,
        "cpe": s.cpe,
        "soft": s.soft,
        "tunnel": s.tunnel,
        "tls": tls,
    })
    .to_string()
}

/// A version-detection result back from [`service_json`]; `None` for text that is not.
pub fn service_back(proto: Protocol, port: u16, text: &str) -> Option<ServiceDetail> {
    let v: J = serde_json::from_str(text).ok()?;
    let tls = v.get("tls").filter(|t| !t.is_null()).map(|t| TlsDetail {
        version: string(t, "version").unwrap_or_default(),
        cipher: string(t, "cipher").unwrap_or_default(),
        cert: t.get("cert").filter(|c| !c.is_null()).map(|c| CertDetail {
            subject: pairs_back(&c["subject"]),
            issuer: pairs_back(&c["issuer"]),
            not_before: string(c, "not_before").unwrap_or_default(),
            not_after: string(c, "not_after").unwrap_or_default(),
            alt_names: strings(c, "alt_names"),
            key: string(c, "key"),
            signature: string(c, "signature").unwrap_or_default(),
            sha256: string(c, "sha256").unwrap_or_default(),
        }),
        cert_error: string(t, "cert_error"),
    });
    Some(ServiceDetail {
        port,
        proto,
        name: string(&v, "name")?,
        product: string(&v, "product"),
        version: string(&v, "version"),
        info: string(&v, "info"),
        hostname: string(&v, "hostname"),
        os: string(&v, "os"),
        cpe: strings(&v, "cpe"),
        soft: v.get("soft").and_then(J::as_bool).unwrap_or(false),
        tunnel: string(&v, "tunnel"),
        tls,
    })
}

/// A risk note as JSON text.
pub fn risk_json(r: &RiskNote) -> String {
    json!({"level": r.level, "name": r.name, "why": r.why, "advice": r.advice}).to_string()
}

/// A risk note back from [`risk_json`].
pub fn risk_back(proto: Protocol, port: u16, text: &str) -> Option<RiskNote> {
    let v: J = serde_json::from_str(text).ok()?;
    Some(RiskNote {
        port,
        proto,
        level: string(&v, "level")?,
        name: string(&v, "name").unwrap_or_default(),
        why: string(&v, "why").unwrap_or_default(),
        advice: string(&v, "advice").unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn port(
        port: u16,
        proto: Protocol,
        state: PortState,
        reason: Reason,
        ttl: Option<u8>,
    ) -> PortResult {
        PortResult {
            port,
            proto,
            state,
            reason,
            ttl,
        }
    }

    #[test]
    fn a_full_range_is_a_few_runs_and_comes_back_exactly() {
        let mut ports: Vec<PortResult> = (1..=65535)
            .map(|p| port(p, Protocol::Tcp, PortState::Closed, Reason::Reset, Some(64)))
            .collect();
        for &open in &[22u16, 80, 443, 65535] {
            ports[usize::from(open) - 1] = port(
                open,
                Protocol::Tcp,
                PortState::Open,
                Reason::SynAck,
                Some(64),
            );
        }
        ports[99] = port(100, Protocol::Tcp, PortState::Closed, Reason::Reset, None);
        ports.push(port(
            53,
            Protocol::Udp,
            PortState::OpenFiltered,
            Reason::NoResponse,
            None,
        ));
        let r = runs(&ports);
        assert_eq!(r.len(), 11, "{r:?}");
        let mut want = ports.clone();
        want.sort_by_key(|p| (p.proto, p.port));
        assert_eq!(expand(&r), want);
        assert!(runs(&[]).is_empty());
    }

    #[test]
    fn times() {
        let t = UNIX_EPOCH + Duration::from_micros(1_795_239_000_123_456);
        let back = time(secs(t));
        assert_eq!(back, t, "microseconds come back exactly");
        assert_eq!(time(f64::NAN), UNIX_EPOCH);
        assert_eq!(time(-5.0), UNIX_EPOCH);
    }

    #[test]
    fn services_and_risks_round_trip() {
        let s = ServiceDetail {
            port: 443,
            proto: Protocol::Tcp,
            name: "http".into(),
            product: Some("nginx<\"".into()),
            version: Some("1.22.1".into()),
            info: None,
            hostname: None,
            os: Some("Linux".into()),
            cpe: vec!["cpe:/a:nginx:nginx:1.22.1".into()],
            soft: false,
            tunnel: Some("ssl".into()),
            tls: Some(TlsDetail {
                version: "TLSv1.3".into(),
                cipher: "TLS_AES_256_GCM_SHA384".into(),
                cert: Some(CertDetail {
                    subject: vec![("CN".into(), "lab.example".into())],
                    issuer: vec![("CN".into(), "lab CA".into()), ("O".into(), "x".into())],
                    not_before: "2024-01-31T00:00:00Z".into(),
                    not_after: "2034-01-31T00:00:00Z".into(),
                    alt_names: vec!["DNS:lab.example".into()],
                    key: Some("ec 256 (P-256)".into()),
                    signature: "ecdsa-with-SHA256".into(),
                    sha256: "ab".repeat(32),
                }),
                cert_error: None,
            }),
        };
        assert_eq!(service_back(Protocol::Tcp, 443, &service_json(&s)), Some(s));
        let r = RiskNote {
            port: 23,
            proto: Protocol::Tcp,
            level: "high".into(),
            name: "telnet".into(),
            why: "clear text".into(),
            advice: "use SSH".into(),
        };
        assert_eq!(risk_back(Protocol::Tcp, 23, &risk_json(&r)), Some(r));
        assert_eq!(service_back(Protocol::Tcp, 1, "not json"), None);
        assert_eq!(risk_back(Protocol::Tcp, 1, "{}"), None);
    }
}
