//! Scan profiles (`--profile NAME`, listed by `monban profiles`): presets of the online
//! scan suite retold in docs/background.md ("The online scan suite").
//!
//! A profile fills in only what the command line left unsaid, before the plan is
//! validated: explicit flags always win (`--profile quick -p 80` scans port 80 with echo
//! discovery).

use monban_engine::{PingProbe, ScanType};

use super::lowargs::LowArgs;
use super::ArgError;

/// One profile: its name and a one-line description.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Profile {
    /// The name given to `--profile`.
    pub name: &'static str,
    /// What it does, one line.
    pub about: &'static str,
}

/// Every profile, in the order `monban profiles` lists them.
pub(crate) const PROFILES: [Profile; 6] = [
    Profile {
        name: "prescan",
        about: "service banners (-sV) of FTP, POP3, SMTP, Telnet, Finger, Ident, SOCKS, \
                HTTP proxy, SSH and HTTP (10 ports)",
    },
    Profile {
        name: "quick",
        about: "SYN scan (connect when unprivileged) of 37 common and backdoor ports, \
                echo-request discovery",
    },
    Profile {
        name: "stealth",
        about: "the quick list probed with SYN, FIN, NULL, Xmas and ACK, one verdict per \
                port (a filter that drops only SYNs cannot hide a closed port)",
    },
    Profile {
        name: "trojan",
        about: "well-known trojan and backdoor ports (monban's own list)",
    },
    Profile {
        name: "tcp-low",
        about: "every TCP port from 1 to 1024",
    },
    Profile {
        name: "udp-low",
        about: "every UDP port from 1 to 1024 (-sU)",
    },
];

/// The `quick` profile's ports: the source's list, 1-10 and 27 named ports (37 in all).
pub(crate) const QUICK_PORTS: &str = "1-10,20,21,22,23,25,53,59,79,80,110,113,135,139,443,445,\
1080,1125,1243,1999,5000,6776,7789,8080,12345,31337,54320,54321";

/// The `prescan` profile's ports: banners worth reading first.
pub(crate) const PRESCAN_PORTS: &str = "21,22,23,25,79,80,110,113,1080,8080";

/// TCP ports that well-known trojans and backdoors of the late 1990s and 2000s listened
/// on, from public advisories and antivirus write-ups. Left out on purpose: ports that
/// legitimate software uses today (20000 DNP3/Usermin, 1080 SOCKS, 8080 proxies, 5000
/// UPnP and web frameworks), where an open port says nothing about a trojan.
pub(crate) const TROJAN_PORTS: [u16; 37] = [
    1243,  // SubSeven (early versions)
    1999,  // BackDoor
    2140,  // Deep Throat / The Invasor
    3150,  // Deep Throat
    5400,  // Blade Runner
    5401,  // Blade Runner
    5402,  // Blade Runner
    6711,  // SubSeven
    6712,  // SubSeven
    6713,  // SubSeven
    6776,  // SubSeven (BackDoor-G)
    6969,  // GateCrasher / Priority
    7789,  // ICKiller
    9872,  // Portal of Doom
    9873,  // Portal of Doom
    9874,  // Portal of Doom
    9875,  // Portal of Doom
    10067, // Portal of Doom
    10167, // Portal of Doom
    12345, // NetBus
    12346, // NetBus
    12349, // BioNet
    12361, // Whack-a-mole
    12362, // Whack-a-mole
    16969, // Priority
    20034, // NetBus 2 Pro
    23476, // Donald Dick
    23477, // Donald Dick
    27374, // SubSeven 2.1
    30100, // NetSphere
    31337, // Back Orifice ("elite")
    31338, // Back Orifice / DeepBO
    40421, // Agent 40421 / Master's Paradise
    50505, // Sockets de Troie
    54320, // Back Orifice 2000
    54321, // Back Orifice 2000
    65000, // Devil
];

/// The text `monban profiles` prints.
pub(crate) fn listing() -> String {
    let mut text = String::from("PROFILES (monban scan --profile NAME; explicit flags win)\n");
    for p in PROFILES {
        text.push_str(&format!("  {:<9} {}\n", p.name, p.about));
    }
    text
}

/// Applies `low.profile` to what the command line left unset. Returns whether the
/// discovery probes came from the profile (without raw sockets the binary then falls
/// back to its default probes instead of failing).
pub(crate) fn apply(low: &mut LowArgs) -> Result<bool, ArgError> {
    let Some(name) = low.profile.clone() else {
        return Ok(false);
    };
    let ports_unset = low.ports.is_none() && !low.fast && low.top_ports.is_none();
    let set_ports = |low: &mut LowArgs, spec: String| {
        if ports_unset {
            low.ports = Some(spec);
        }
    };
    let mut pings_from_profile = false;
    match name.as_str() {
        "quick" => {
            set_ports(low, QUICK_PORTS.to_string());
            if low.pings.is_empty() && !low.skip_discovery {
                low.pings = vec![PingProbe::Echo];
                pings_from_profile = true;
            }
        }
        "trojan" => {
            let spec = TROJAN_PORTS
                .iter()
                .map(u16::to_string)
                .collect::<Vec<_>>()
                .join(",");
            set_ports(low, spec);
        }
        "tcp-low" => set_ports(low, "1-1024".to_string()),
        "udp-low" => {
            if low.scan_types.is_empty() && !low.ping_only {
                low.scan_types = vec![ScanType::Udp];
            }
            set_ports(low, "1-1024".to_string());
        }
        "prescan" => {
            set_ports(low, PRESCAN_PORTS.to_string());
            let udp = low.scan_types.contains(&ScanType::Udp);
            if !udp && !low.ping_only {
                low.version_detection = true;
            }
        }
        "stealth" => {
            if !low.scan_types.is_empty() {
                return Err(ArgError(
                    "the stealth profile chooses its own probes (SYN, FIN, NULL, Xmas, ACK): \
                     leave out -sS/-sT/-sF/..."
                        .into(),
                ));
            }
            if !low.ping_only {
                low.stealth = true;
                low.scan_types = vec![ScanType::Syn];
            }
            set_ports(low, QUICK_PORTS.to_string());
            if low.pings.is_empty() && !low.skip_discovery {
                low.pings = vec![PingProbe::Echo];
                pings_from_profile = true;
            }
        }
        other => {
            let names: Vec<&str> = PROFILES.iter().map(|p| p.name).collect();
            return Err(ArgError(format!(
                "unknown profile {other:?}: choose one of {} (see monban profiles)",
                names.join(", ")
            )));
        }
    }
    Ok(pings_from_profile)
}
