//! One verdict per port from several scan types (the `stealth` profile).
//!
//! A SYN scan sees a port the way a connecting client does; a firewall that drops SYNs
//! hides the port ("filtered") whatever is behind it. Stateless filters often let other
//! segments through, and RFC 793 stacks answer them in a way that still tells something:
//!
//! | SYN          | FIN / NULL / Xmas   | ACK                   | verdict                  |
//! |--------------|---------------------|-----------------------|--------------------------|
//! | open         | any                 | any                   | open (SYN's reason)      |
//! | closed       | any                 | any                   | closed (SYN's reason)    |
//! | filtered     | any RST             | any                   | closed (that RST)        |
//! | filtered     | silent              | RST (unfiltered)      | open\|filtered           |
//! | filtered     | silent / ICMP       | silent / ICMP         | filtered (SYN's reason)  |
//!
//! A RST to a FIN, NULL or Xmas probe means nothing listens (a listening RFC 793 port
//! drops them silently), so the port is closed even though SYNs never reach it: the
//! host is visible behind its filter. When only the ACK probe gets through, the filter
//! is stateless and lets non-SYN segments pass; FIN silence then means "open, or the
//! FIN was dropped", which is all that can honestly be said. Windows stacks answer FIN
//! probes with RST on open ports too; a SYN that gets through is always believed first.

use crate::types::{PortResult, PortState, Reason, ScanType};

/// The scan types the stealth profile runs, in order; the first is the connecting view.
pub const STEALTH_SCANS: [ScanType; 5] = [
    ScanType::Syn,
    ScanType::Fin,
    ScanType::Null,
    ScanType::Xmas,
    ScanType::Ack,
];

/// Which probe decided a combined verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    /// The combined state and the reason of the answer behind it.
    pub result: PortResult,
    /// The scan type whose answer decided it.
    pub decided_by: ScanType,
}

/// Combines one port's results under several scan types into one verdict (see the
/// module table). `results` pairs each scan type with its result for the same port;
/// types may be missing (an interrupted scan), in which case only what is there counts.
/// Returns `None` when `results` is empty.
pub fn combine(results: &[(ScanType, PortResult)]) -> Option<Verdict> {
    let find = |t: ScanType| results.iter().find(|(s, _)| *s == t).map(|(_, r)| *r);
    let first = results.first()?;
    let verdict = |result: PortResult, decided_by: ScanType| Some(Verdict { result, decided_by });
    if let Some(syn) = find(ScanType::Syn) {
        if matches!(syn.state, PortState::Open | PortState::Closed) {
            return verdict(syn, ScanType::Syn);
        }
    }
    for t in [ScanType::Fin, ScanType::Null, ScanType::Xmas] {
        if let Some(r) = find(t) {
            if r.state == PortState::Closed && r.reason == Reason::Reset {
                return verdict(r, t);
            }
        }
    }
    let fin_family_silent = [ScanType::Fin, ScanType::Null, ScanType::Xmas]
        .iter()
        .filter_map(|t| find(*t))
        .any(|r| r.state == PortState::OpenFiltered && r.reason == Reason::NoResponse);
    if let Some(ack) = find(ScanType::Ack) {
        if ack.state == PortState::Unfiltered && fin_family_silent {
            let fin = [ScanType::Fin, ScanType::Null, ScanType::Xmas]
                .iter()
                .find_map(|t| find(*t).map(|r| (*t, r)))
                .filter(|(_, r)| r.state == PortState::OpenFiltered);
            if let Some((t, r)) = fin {
                return verdict(r, t);
            }
        }
    }
    match find(ScanType::Syn) {
        Some(syn) => verdict(syn, ScanType::Syn),
        None => verdict(first.1, first.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Protocol;

    fn r(state: PortState, reason: Reason) -> PortResult {
        PortResult {
            port: 80,
            proto: Protocol::Tcp,
            state,
            reason,
            ttl: Some(64),
        }
    }

    const OPEN: (PortState, Reason) = (PortState::Open, Reason::SynAck);
    const RST: (PortState, Reason) = (PortState::Closed, Reason::Reset);
    const FILTERED: (PortState, Reason) = (PortState::Filtered, Reason::NoResponse);
    const PROHIBITED: (PortState, Reason) = (PortState::Filtered, Reason::AdminProhibited);
    const SILENT: (PortState, Reason) = (PortState::OpenFiltered, Reason::NoResponse);
    const UNFILTERED: (PortState, Reason) = (PortState::Unfiltered, Reason::Reset);

    /// Results for SYN, FIN, NULL, Xmas, ACK in that order.
    fn all(states: [(PortState, Reason); 5]) -> Vec<(ScanType, PortResult)> {
        STEALTH_SCANS
            .iter()
            .zip(states)
            .map(|(t, (s, why))| (*t, r(s, why)))
            .collect()
    }

    fn check(states: [(PortState, Reason); 5], want: (PortState, Reason), by: ScanType) {
        let v = combine(&all(states)).unwrap();
        assert_eq!(
            (v.result.state, v.result.reason, v.decided_by),
            (want.0, want.1, by),
            "{states:?}"
        );
        assert_eq!(v.result.port, 80);
    }

    #[test]
    fn syn_answers_are_believed_first() {
        check([OPEN, RST, RST, RST, UNFILTERED], OPEN, ScanType::Syn);
        check(
            [RST, SILENT, SILENT, SILENT, UNFILTERED],
            RST,
            ScanType::Syn,
        );
    }

    #[test]
    fn a_reset_behind_a_syn_filter_means_closed() {
        check(
            [FILTERED, RST, SILENT, SILENT, UNFILTERED],
            RST,
            ScanType::Fin,
        );
        check(
            [FILTERED, SILENT, SILENT, RST, FILTERED],
            RST,
            ScanType::Xmas,
        );
        check(
            [PROHIBITED, SILENT, RST, RST, FILTERED],
            RST,
            ScanType::Null,
        );
    }

    #[test]
    fn ack_through_and_fin_silent_is_open_or_filtered() {
        check(
            [FILTERED, SILENT, SILENT, SILENT, UNFILTERED],
            SILENT,
            ScanType::Fin,
        );
    }

    #[test]
    fn nothing_through_stays_filtered_with_the_syn_reason() {
        check(
            [FILTERED, SILENT, SILENT, SILENT, FILTERED],
            FILTERED,
            ScanType::Syn,
        );
        check(
            [PROHIBITED, PROHIBITED, PROHIBITED, PROHIBITED, PROHIBITED],
            PROHIBITED,
            ScanType::Syn,
        );
        // ICMP to the FIN family (filtered, not silent) with ACK through: still filtered.
        check(
            [FILTERED, PROHIBITED, PROHIBITED, PROHIBITED, UNFILTERED],
            FILTERED,
            ScanType::Syn,
        );
    }

    #[test]
    fn partial_results_use_what_is_there() {
        assert_eq!(combine(&[]), None);
        let only_fin = [(ScanType::Fin, r(SILENT.0, SILENT.1))];
        let v = combine(&only_fin).unwrap();
        assert_eq!((v.result.state, v.decided_by), (SILENT.0, ScanType::Fin));
        let no_syn = [
            (ScanType::Fin, r(SILENT.0, SILENT.1)),
            (ScanType::Ack, r(UNFILTERED.0, UNFILTERED.1)),
        ];
        let v = combine(&no_syn).unwrap();
        assert_eq!((v.result.state, v.decided_by), (SILENT.0, ScanType::Fin));
    }
}
