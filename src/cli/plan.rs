//! The finished values of a [`ScanPlan`](super::ScanPlan) that are derived rather than
//! copied from flags: the engine's [`Timing`] (template merged with explicit options,
//! validated), the discovery probes by privilege, and the FTP bounce `LIST` timeout.
//!
//! [`hiargs`](super::hiargs) calls these while building the plan, so every contradiction
//! is a usage error at parse time, and the binary only drives the plan.

use std::time::Duration;

use monban_engine::{PingProbe, Timing};

use super::ArgError;

/// Timing options as given; `None` means "the template decides".
#[derive(Debug, Clone, PartialEq)]
pub struct TimingArgs {
    /// `-T0`..`-T5` (paranoid..insane); 3 (normal) by default.
    pub template: u8,
    /// `--min-rate`: probes per second, positive.
    pub min_rate: Option<f64>,
    /// `--max-rate`: probes per second, positive, not below `min_rate`.
    pub max_rate: Option<f64>,
    /// `--max-retries`.
    pub max_retries: Option<u32>,
    /// `--host-timeout`.
    pub host_timeout: Option<Duration>,
    /// `--min-rtt-timeout`.
    pub min_rtt_timeout: Option<Duration>,
    /// `--max-rtt-timeout`, not below `min_rtt_timeout`.
    pub max_rtt_timeout: Option<Duration>,
    /// `--initial-rtt-timeout`.
    pub initial_rtt_timeout: Option<Duration>,
    /// `--scan-delay`.
    pub scan_delay: Option<Duration>,
}

impl Default for TimingArgs {
    fn default() -> Self {
        TimingArgs {
            template: 3,
            min_rate: None,
            max_rate: None,
            max_retries: None,
            host_timeout: None,
            min_rtt_timeout: None,
            max_rtt_timeout: None,
            initial_rtt_timeout: None,
            scan_delay: None,
        }
    }
}

/// The scan's timing: the template merged with the explicit options, which always win
/// (an explicit bound moves the template's other bound out of its way), then validated.
pub(super) fn timing(a: &TimingArgs) -> Result<Timing, ArgError> {
    if let (Some(min), Some(max)) = (a.min_rate, a.max_rate) {
        if min > max {
            return Err(ArgError(format!(
                "--min-rate {min} is greater than --max-rate {max}"
            )));
        }
    }
    if let (Some(min), Some(max)) = (a.min_rtt_timeout, a.max_rtt_timeout) {
        if min > max {
            return Err(ArgError(format!(
                "--min-rtt-timeout {min:?} is greater than --max-rtt-timeout {max:?}"
            )));
        }
    }
    let mut t = Timing::template(a.template);
    if let Some(v) = a.max_retries {
        t.max_retries = v;
    }
    if let Some(v) = a.min_rtt_timeout {
        t.min_rto = v;
        if t.max_rto < v && a.max_rtt_timeout.is_none() {
            t.max_rto = v;
        }
    }
    if let Some(v) = a.max_rtt_timeout {
        t.max_rto = v;
        if t.min_rto > v {
            t.min_rto = v;
        }
    }
    if let Some(v) = a.initial_rtt_timeout {
        t.initial_rto = v;
    }
    if let Some(v) = a.scan_delay {
        t.scan_delay = v;
    }
    t.host_timeout = a.host_timeout;
    if let Some(v) = a.max_rate {
        t.max_rate = Some(v);
        if t.initial_rate.is_some_and(|i| i > v) {
            t.initial_rate = Some(v);
        }
    }
    if let Some(v) = a.min_rate {
        t.min_rate = Some(v);
        t.initial_rate = Some(t.initial_rate.map_or(v, |i| i.max(v)));
        if t.max_rate.is_some_and(|m| m < v) && a.max_rate.is_none() {
            t.max_rate = Some(v);
        }
        // A rate floor makes serial templates rate-paced.
        t.max_in_flight = t.max_in_flight.max(Timing::template(4).max_in_flight);
    }
    t.validate().map_err(|e| ArgError(e.to_string()))?;
    Ok(t)
}

/// Host discovery's probes, chosen at parse time for both answers to the one question
/// only the run can answer: may this process open raw sockets?
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoveryProbes {
    /// The probes with raw sockets.
    pub raw: Vec<PingProbe>,
    /// The probes without them: `None` when the probes asked for need raw sockets (an
    /// error at run time, [`DiscoveryProbes::for_privilege`]).
    pub unprivileged: Option<Vec<PingProbe>>,
}

impl DiscoveryProbes {
    /// The probes to send, given whether raw sockets are available; `None` when the
    /// probes asked for need raw sockets and there are none.
    pub fn for_privilege(&self, raw_ok: bool) -> Option<&[PingProbe]> {
        if raw_ok {
            Some(&self.raw)
        } else {
            self.unprivileged.as_deref()
        }
    }
}

/// The discovery probes, or `None` with `-Pn`. No probes asked for: the defaults of
/// each privilege. Probes from a profile: those with raw sockets, the defaults without
/// (a profile should not fail for lack of privilege). Probes from flags: those, and
/// nothing without raw sockets.
pub(super) fn discovery(
    skip: bool,
    pings: &[PingProbe],
    from_profile: bool,
) -> Option<DiscoveryProbes> {
    if skip {
        return None;
    }
    let connect = PingProbe::DEFAULT_CONNECT.to_vec();
    Some(if pings.is_empty() {
        DiscoveryProbes {
            raw: PingProbe::DEFAULT_RAW.to_vec(),
            unprivileged: Some(connect),
        }
    } else {
        DiscoveryProbes {
            raw: pings.to_vec(),
            unprivileged: from_profile.then_some(connect),
        }
    })
}

/// How long the FTP server may take to answer one `LIST` before the port is called
/// filtered (no-response) and the control connection is replaced: by timing template,
/// and never below the timing's longest retransmission timeout.
pub(super) fn bounce_timeout(timing: &Timing) -> Duration {
    let base = match timing.level {
        0..=2 => Duration::from_secs(30),
        3 => Duration::from_secs(10),
        4 => Duration::from_secs(5),
        _ => Duration::from_secs(3),
    };
    base.max(timing.max_rto)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn the_template_alone_is_the_template() {
        for level in 0..=5 {
            let a = TimingArgs {
                template: level,
                ..TimingArgs::default()
            };
            assert_eq!(timing(&a).unwrap(), Timing::template(level), "-T{level}");
        }
    }

    #[test]
    fn explicit_options_override_the_template() {
        let t = timing(&TimingArgs {
            template: 4,
            max_retries: Some(2),
            host_timeout: Some(Duration::from_secs(300)),
            min_rtt_timeout: Some(ms(50)),
            max_rtt_timeout: Some(Duration::from_secs(2)),
            initial_rtt_timeout: Some(Duration::from_secs(1)),
            scan_delay: Some(ms(1500)),
            ..TimingArgs::default()
        })
        .unwrap();
        assert_eq!(
            t,
            Timing {
                max_retries: 2,
                host_timeout: Some(Duration::from_secs(300)),
                min_rto: ms(50),
                max_rto: Duration::from_secs(2),
                initial_rto: Duration::from_secs(1),
                scan_delay: ms(1500),
                ..Timing::template(4)
            }
        );
    }

    #[test]
    fn an_explicit_rtt_bound_moves_the_template_bound_out_of_its_way() {
        // -T5's max RTO is 300 ms: a larger minimum raises it.
        let t = timing(&TimingArgs {
            template: 5,
            min_rtt_timeout: Some(Duration::from_secs(1)),
            ..TimingArgs::default()
        })
        .unwrap();
        assert_eq!(
            (t.min_rto, t.max_rto),
            (Duration::from_secs(1), Duration::from_secs(1))
        );
        // -T3's min RTO is 100 ms: a smaller maximum lowers it.
        let t = timing(&TimingArgs {
            max_rtt_timeout: Some(ms(40)),
            ..TimingArgs::default()
        })
        .unwrap();
        assert_eq!((t.min_rto, t.max_rto), (ms(40), ms(40)));
    }

    #[test]
    fn min_and_max_rate_interplay() {
        let rates = |template: u8, min: Option<f64>, max: Option<f64>| {
            let t = timing(&TimingArgs {
                template,
                min_rate: min,
                max_rate: max,
                ..TimingArgs::default()
            })
            .unwrap();
            (t.initial_rate, t.min_rate, t.max_rate, t.max_in_flight)
        };
        // -T3 starts at 1000/s under a 20000/s ceiling.
        assert_eq!(
            rates(3, None, None),
            (Some(1_000.0), None, Some(20_000.0), 4096)
        );
        // A ceiling below the start rate pulls the start down.
        assert_eq!(
            rates(3, None, Some(100.0)),
            (Some(100.0), None, Some(100.0), 4096)
        );
        // A floor above the start rate pushes the start up ...
        assert_eq!(
            rates(3, Some(5_000.0), None),
            (Some(5_000.0), Some(5_000.0), Some(20_000.0), 16_384)
        );
        // ... and above the template's ceiling raises the ceiling with it.
        assert_eq!(
            rates(3, Some(50_000.0), None),
            (Some(50_000.0), Some(50_000.0), Some(50_000.0), 16_384)
        );
        // Both given: both kept, the start held between them.
        assert_eq!(
            rates(3, Some(10.0), Some(500.0)),
            (Some(500.0), Some(10.0), Some(500.0), 16_384)
        );
        // A floor makes a serial template rate-paced; a ceiling alone does not.
        assert_eq!(
            rates(2, Some(7.0), None),
            (Some(7.0), Some(7.0), None, 16_384)
        );
        assert_eq!(rates(2, None, Some(7.0)), (None, None, Some(7.0), 1));
        // Equal bounds are fine.
        assert_eq!(
            rates(4, Some(300.0), Some(300.0)),
            (Some(300.0), Some(300.0), Some(300.0), 16_384)
        );
    }

    #[test]
    fn contradictions_are_usage_errors() {
        let e = timing(&TimingArgs {
            min_rate: Some(200.0),
            max_rate: Some(100.0),
            ..TimingArgs::default()
        })
        .unwrap_err();
        assert_eq!(e.0, "--min-rate 200 is greater than --max-rate 100");
        let e = timing(&TimingArgs {
            min_rtt_timeout: Some(ms(500)),
            max_rtt_timeout: Some(ms(100)),
            ..TimingArgs::default()
        })
        .unwrap_err();
        assert_eq!(
            e.0,
            "--min-rtt-timeout 500ms is greater than --max-rtt-timeout 100ms"
        );
        // What the flag parser lets through but the engine refuses still fails here.
        let e = timing(&TimingArgs {
            min_rate: Some(f64::NAN),
            ..TimingArgs::default()
        })
        .unwrap_err();
        assert_eq!(
            e.0,
            "rate NaN must be a positive number of probes per second"
        );
    }

    #[test]
    fn discovery_by_privilege() {
        assert_eq!(discovery(true, &[], false), None);
        let defaults = discovery(false, &[], false).unwrap();
        assert_eq!(
            defaults.for_privilege(true),
            Some(&PingProbe::DEFAULT_RAW[..])
        );
        assert_eq!(
            defaults.for_privilege(false),
            Some(&PingProbe::DEFAULT_CONNECT[..])
        );
        let asked = discovery(false, &[PingProbe::Syn(22)], false).unwrap();
        assert_eq!(asked.for_privilege(true), Some(&[PingProbe::Syn(22)][..]));
        assert_eq!(asked.for_privilege(false), None);
        let profile = discovery(false, &[PingProbe::Echo], true).unwrap();
        assert_eq!(profile.for_privilege(true), Some(&[PingProbe::Echo][..]));
        assert_eq!(
            profile.for_privilege(false),
            Some(&PingProbe::DEFAULT_CONNECT[..])
        );
    }

    #[test]
    fn bounce_timeout_by_template_never_below_max_rto() {
        let got: Vec<u64> = (0..=5)
            .map(|l| bounce_timeout(&Timing::template(l)).as_secs())
            .collect();
        assert_eq!(got, [30, 30, 30, 10, 5, 3]);
        let mut t = Timing::template(5);
        t.max_rto = Duration::from_secs(20);
        assert_eq!(bounce_timeout(&t), Duration::from_secs(20));
    }
}
