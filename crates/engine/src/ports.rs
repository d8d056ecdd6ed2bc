//! Port specifications (`-p`), port lists and our own top-ports ranking.
//! (Stub: being written.)

/// Ports to scan, per protocol; each list sorted ascending, without duplicates.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PortList {
    /// TCP ports.
    pub tcp: Vec<u16>,
    /// UDP ports.
    pub udp: Vec<u16>,
}

/// Writes sorted ports compactly as nmap does: `[1,2,3,5,7,8]` → `"1-3,5,7-8"`.
///
/// The input should be ascending; duplicates are folded. An empty slice gives `""`.
pub fn format_ranges(ports: &[u16]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < ports.len() {
        let start = ports[i];
        let mut end = start;
        let mut j = i + 1;
        while j < ports.len() && (ports[j] == end || Some(ports[j]) == end.checked_add(1)) {
            end = ports[j];
            j += 1;
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}-{end}"));
        }
        i = j;
    }
    out
}

#[cfg(test)]
mod format_tests {
    use super::format_ranges;

    #[test]
    fn ranges_fold() {
        assert_eq!(format_ranges(&[]), "");
        assert_eq!(format_ranges(&[80]), "80");
        assert_eq!(format_ranges(&[1, 2, 3, 5, 7, 8]), "1-3,5,7-8");
        assert_eq!(format_ranges(&[1, 1, 2, 65535]), "1-2,65535");
        assert_eq!(format_ranges(&[65534, 65535]), "65534-65535");
    }
}
