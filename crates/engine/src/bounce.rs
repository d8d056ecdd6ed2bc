//! FTP bounce scan (`-b`): a sans-IO client for an FTP control connection.
//!
//! An FTP server in active mode connects *to the client* for every transfer, at the
//! address the client names with `PORT a1,a2,a3,a4,p1,p2` (RFC 959) or
//! `EPRT |2|addr|port|` (RFC 2428). A server that accepts any address there (a
//! "third-party" `PORT`) can be told to connect to somebody else: after `PORT target:port`
//! a `LIST` makes the server try `target:port`, and its reply says whether that worked.
//!
//! [`BounceSession`] drives one control connection at a time; it never opens a socket and
//! never reads a clock. The driver does what [`BounceSession::poll_command`] says (open the
//! connection, send a line, close it), feeds back what the server says
//! ([`BounceSession::on_data`]) and the time, and collects port states from
//! [`BounceSession::poll_result`]:
//!
//! ```text
//! loop {
//!     while let Some(c) = session.poll_command() { do_it(c) }     // Connect, Send, Disconnect
//!     while let Some(r) = session.poll_result() { sink(r) }
//!     if session.is_done() { break }
//!     read until session.next_timeout(): on_data / on_closed / handle_timeout
//! }
//! ```
//!
//! # What the server's replies mean
//!
//! | after `LIST`                                          | state, reason          |
//! |-------------------------------------------------------|------------------------|
//! | a final 2xx (`226`, `250`) or `426` (transfer broken)  | open, `syn-ack`        |
//! | `1xx`, then any reply but `425`, or nothing            | open, `syn-ack`        |
//! | `425` sooner than [`BounceConfig::slow_refusal`]       | closed, `conn-refused` |
//! | `425` later than that                                  | filtered, `no-response`|
//! | nothing at all within [`BounceConfig::timeout`]        | filtered, `no-response`|
//!
//! The server's connect is a full handshake, so an open port is `syn-ack`. A `425` only
//! says that the server's connect failed: a RST and an ICMP unreachable read the same,
//! so a port behind a rejecting firewall reads closed, as in nmap. A port behind a
//! dropping firewall keeps the server in `connect()` (vsftpd: `connect_timeout`, 60 s by
//! default): after [`BounceConfig::timeout`] the port is filtered and the session opens a
//! new control connection, because the stuck one answers nothing else.
//!
//! # Limits of the technique, reported rather than guessed
//!
//! - A server that refuses `PORT` to another address ends the scan with
//!   [`BounceError::PortRefused`]: it cannot relay a bounce scan. Once it has accepted
//!   one, a later refusal is a failed session (vsftpd: `500 OOPS: priv_sock_get_cmd`):
//!   the port is tried again on new control connections, then left out
//!   ([`Skip::Refused`]).
//! - Many servers refuse data connections to ports below 1024 (vsftpd answers
//!   `500 OOPS: Illegal port request` and drops the session). After the first such
//!   refusal every privileged port is reported through [`BounceSession::poll_skipped`]
//!   with [`Skip::Privileged`] instead of being probed.
//! - The server connects from the family of its control connection: through an IPv4
//!   server only IPv4 targets (`PORT`), through an IPv6 server only IPv6 targets
//!   (`EPRT |2|…|`). Targets of the other family are skipped ([`Skip::FamilyMismatch`]):
//!   vsftpd, for one, accepts `PORT` on an IPv6 control connection and then fails every
//!   connect with `425`, which would read "closed" everywhere.

use crate::types::{PortState, Reason};
use std::collections::VecDeque;
use std::fmt;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// The user name sent when none is given.
pub const DEFAULT_USER: &str = "anonymous";
/// The password sent when none is given (anonymous FTP asks for an e-mail-like string).
pub const DEFAULT_PASS: &str = "monban@";
/// The FTP control port when none is given.
pub const DEFAULT_FTP_PORT: u16 = 21;
/// The longest reply line accepted from a server, in bytes (line end excluded).
pub const MAX_LINE: usize = 4096;
/// The most lines one (multi-line) reply may have.
pub const MAX_REPLY_LINES: usize = 512;
/// Default for [`BounceConfig::slow_refusal`].
pub const DEFAULT_SLOW_REFUSAL: Duration = Duration::from_secs(2);
/// Default for [`BounceConfig::max_retries`].
pub const DEFAULT_MAX_RETRIES: u32 = 3;
/// Longest server text kept in an error message, in characters.
const MAX_ERROR_TEXT: usize = 200;

/// One port's outcome: target, port, state, reason.
pub type BounceResult = (IpAddr, u16, PortState, Reason);

/// What went wrong in a bounce scan.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BounceError {
    /// The `-b` argument is not `[user[:pass]@]server[:port]`.
    #[error("bad FTP bounce server {spec:?}: {why} (expected [user[:password]@]server[:port])")]
    BadSpec {
        /// The argument as given.
        spec: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// The user name or password holds a character that would end the FTP command.
    #[error("the FTP {what} contains a line break or NUL, which FTP cannot carry")]
    BadCredential {
        /// `user name` or `password`.
        what: &'static str,
    },
    /// The server sent a line longer than [`MAX_LINE`] bytes.
    #[error("the FTP server sent a reply line longer than {limit} bytes")]
    LineTooLong {
        /// The limit.
        limit: usize,
    },
    /// The server sent a multi-line reply of more than [`MAX_REPLY_LINES`] lines.
    #[error("the FTP server sent a reply of more than {limit} lines")]
    ReplyTooLong {
        /// The limit.
        limit: usize,
    },
    /// The server sent a line that is not an FTP reply (three digits, then space or `-`).
    #[error("the FTP server sent something that is not an FTP reply: {line:?}")]
    Malformed {
        /// The line (control characters replaced, shortened).
        line: String,
    },
    /// The server did not greet with `220`.
    #[error("the FTP server did not greet with 220: {reply}")]
    Greeting {
        /// The server's reply.
        reply: String,
    },
    /// `USER`/`PASS` were refused.
    #[error("the FTP server refused the login as {user:?}: {reply} (give credentials as user:password@server)")]
    LoginRefused {
        /// The user name tried.
        user: String,
        /// The server's reply.
        reply: String,
    },
    /// The server asks for an `ACCT` (332), which a bounce scan does not provide.
    #[error(
        "the FTP server wants an account (ACCT) after login, which monban does not send: {reply}"
    )]
    AccountNeeded {
        /// The server's reply.
        reply: String,
    },
    /// The server refuses `PORT`/`EPRT` to a third party: it cannot relay a bounce scan.
    #[error("the FTP server refuses {command} to {target} port {port} ({reply}): it cannot be used for a bounce scan, which needs a server that accepts PORT/EPRT naming a third party (vsftpd: port_promiscuous=YES)")]
    PortRefused {
        /// `PORT` or `EPRT`.
        command: &'static str,
        /// The target named.
        target: IpAddr,
        /// The port named.
        port: u16,
        /// The server's reply.
        reply: String,
    },
    /// Neither `LIST` nor `NLST` could be used to make the server connect.
    #[error("the FTP server cannot list a directory, so it never connects anywhere: {reply}")]
    ListFailed {
        /// The server's reply.
        reply: String,
    },
    /// A reply that makes no sense after the command sent.
    #[error("unexpected FTP reply after {after}: {reply}")]
    Unexpected {
        /// The command that was answered (or `nothing`).
        after: &'static str,
        /// The server's reply.
        reply: String,
    },
    /// The server dropped the connection or stopped answering too many times in a row.
    #[error(
        "the FTP server {last} {attempts} times in a row without a port being decided; giving up"
    )]
    ServerGone {
        /// Control connections tried without progress.
        attempts: u32,
        /// What happened the last time (`closed the connection`, `stopped answering`).
        last: &'static str,
    },
}

/// Why a port was not probed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Skip {
    /// The server refused a data connection to a port below 1024 once; it will refuse all.
    Privileged,
    /// The target's address family differs from the server's control connection.
    FamilyMismatch,
    /// The server refused `PORT`/`EPRT` for this port on every try, after accepting it
    /// for other ports of the scan.
    Refused,
}

impl Skip {
    /// A short explanation for the user.
    pub fn as_str(self) -> &'static str {
        match self {
            Skip::Privileged => "the FTP server refuses data connections to ports below 1024",
            Skip::FamilyMismatch => {
                "the FTP server connects only within the address family of its control connection"
            }
            Skip::Refused => {
                "the FTP server refused PORT for them on every try, though it accepted it for \
                 other ports"
            }
        }
    }
}

impl fmt::Display for Skip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the driver should do with the control connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Open a (new) control connection to the server, then call
    /// [`BounceSession::on_connected`].
    Connect,
    /// Send these bytes (one FTP command, `\r\n` included).
    Send(String),
    /// Close the control connection.
    Disconnect,
}

/// One complete FTP reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The three-digit code.
    pub code: u16,
    /// The text of the last line, after the code.
    pub text: String,
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{} {}\"", self.code, clean(&self.text))
    }
}

/// Replaces control characters and shortens server text for error messages.
fn clean(s: &str) -> String {
    let mut out: String = s
        .chars()
        .take(MAX_ERROR_TEXT)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if s.chars().nth(MAX_ERROR_TEXT).is_some() {
        out.push('…');
    }
    out
}

/// Assembles reply lines (RFC 959 §4.2) into [`Reply`]s.
///
/// A reply is `ddd text`, or `ddd-text` followed by any lines up to one that starts with
/// the same `ddd ` (a bare `ddd` is accepted too).
#[derive(Debug, Default, Clone)]
pub struct ReplyParser {
    /// Code and line count of the multi-line reply being read.
    open: Option<(u16, usize)>,
}

impl ReplyParser {
    /// A parser between replies.
    pub fn new() -> ReplyParser {
        ReplyParser::default()
    }

    /// Takes one line (without its line end); returns the reply it completes, if any.
    pub fn push_line(&mut self, line: &str) -> Result<Option<Reply>, BounceError> {
        if let Some((code, lines)) = self.open {
            if lines + 1 > MAX_REPLY_LINES {
                return Err(BounceError::ReplyTooLong {
                    limit: MAX_REPLY_LINES,
                });
            }
            if let Some((c, b' ', text)) = split_code(line) {
                if c == code {
                    self.open = None;
                    return Ok(Some(Reply {
                        code,
                        text: text.to_owned(),
                    }));
                }
            }
            self.open = Some((code, lines + 1));
            return Ok(None);
        }
        if line.is_empty() {
            // Stray blank lines between replies carry nothing; a flood of them is bounded
            // by the reply deadline.
            return Ok(None);
        }
        match split_code(line) {
            Some((code, b' ', text)) => Ok(Some(Reply {
                code,
                text: text.to_owned(),
            })),
            Some((code, b'-', _)) => {
                self.open = Some((code, 1));
                Ok(None)
            }
            _ => Err(BounceError::Malformed { line: clean(line) }),
        }
    }
}

/// `ddd<sep>text` → (code, sep, text); a bare `ddd` gives sep `b' '`. The first digit
/// must be 1 to 5 (RFC 959's five reply classes).
fn split_code(line: &str) -> Option<(u16, u8, &str)> {
    let b = line.as_bytes();
    let digits = b.get(..3)?;
    if !digits.iter().all(u8::is_ascii_digit) || !(b'1'..=b'5').contains(&digits[0]) {
        return None;
    }
    let code = digits
        .iter()
        .fold(0u16, |acc, d| acc * 10 + u16::from(d - b'0'));
    match b.get(3) {
        None => Some((code, b' ', "")),
        Some(&sep @ (b' ' | b'-')) => Some((code, sep, line.get(4..).unwrap_or(""))),
        Some(_) => None,
    }
}

/// Options of a bounce session.
#[derive(Debug, Clone)]
pub struct BounceConfig {
    /// The FTP server; only its family is used here (the server connects from it).
    pub server: IpAddr,
    /// User name (`anonymous` by default).
    pub user: String,
    /// Password.
    pub pass: String,
    /// How long any reply may take. A `LIST` that gets no reply within it leaves the
    /// port filtered (no-response) and the control connection is replaced.
    pub timeout: Duration,
    /// A `425` that comes at least this long after `LIST` means the server's connect
    /// waited for an answer that never came (a dropped SYN, then the server's own connect
    /// timeout): filtered, not closed. A refusal after one SYN retransmission (≈ 1 s on
    /// Linux) stays closed.
    pub slow_refusal: Duration,
    /// Control connections in a row that may fail (dropped, silent) before the scan
    /// gives up with [`BounceError::ServerGone`].
    pub max_retries: u32,
}

impl BounceConfig {
    /// A configuration with the default `slow_refusal` and `max_retries`.
    pub fn new(server: IpAddr, user: &str, pass: &str, timeout: Duration) -> BounceConfig {
        BounceConfig {
            server,
            user: user.to_owned(),
            pass: pass.to_owned(),
            timeout,
            slow_refusal: DEFAULT_SLOW_REFUSAL,
            max_retries: DEFAULT_MAX_RETRIES,
        }
    }
}

/// Where a session is in the dialogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// The driver was asked to connect.
    Connecting,
    /// Waiting for the server's greeting.
    Greeting,
    /// `USER` sent.
    User,
    /// `PASS` sent.
    Pass,
    /// `PORT`/`EPRT` sent for the current port.
    Port,
    /// The current (privileged) port was refused; `PORT`/`EPRT` sent for an unprivileged
    /// port of the same target, to tell "no privileged ports" from "no third parties".
    PortCheck,
    /// `LIST`/`NLST` sent at `sent`; `opened` once a 1xx came.
    List { sent: Instant, opened: bool },
    /// `QUIT` sent.
    Quit,
    /// Finished (or failed).
    Done,
}

impl State {
    fn command(self) -> &'static str {
        match self {
            State::Connecting | State::Done => "nothing",
            State::Greeting => "connecting",
            State::User => "USER",
            State::Pass => "PASS",
            State::Port | State::PortCheck => "PORT",
            State::List { .. } => "LIST",
            State::Quit => "QUIT",
        }
    }
}

/// The verb that makes the server connect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ListVerb {
    List,
    Nlst,
}

/// A sans-IO FTP bounce scan over a list of targets and ports (see the module docs).
#[derive(Debug)]
pub struct BounceSession {
    cfg: BounceConfig,
    targets: Vec<(IpAddr, Vec<u16>)>,
    /// Cursor: the next (or current) port is `targets[host].1[port]`.
    host: usize,
    port: usize,
    state: State,
    deadline: Option<Instant>,
    commands: VecDeque<Command>,
    results: VecDeque<BounceResult>,
    skipped: VecDeque<(IpAddr, u16, Skip)>,
    /// Bytes of an unfinished line.
    partial: Vec<u8>,
    parser: ReplyParser,
    verb: ListVerb,
    privileged_refused: bool,
    /// The server has accepted `PORT`/`EPRT` naming a target: a later refusal is a
    /// failure of that session (vsftpd: `500 OOPS: priv_sock_get_cmd` when its session
    /// process died), not a server that cannot bounce.
    third_party_ok: bool,
    /// The server's refusal of the current port while [`State::PortCheck`] runs.
    refusal: Option<String>,
    /// Control connections in a row that ended without a port being decided.
    failures: u32,
    connections: u32,
    ports_total: usize,
    ports_done: usize,
    error: Option<BounceError>,
}

impl BounceSession {
    /// A session that will probe every port of every target, in the order given.
    /// Its first command is [`Command::Connect`].
    pub fn new(
        cfg: BounceConfig,
        targets: Vec<(IpAddr, Vec<u16>)>,
    ) -> Result<BounceSession, BounceError> {
        for (what, s) in [("user name", &cfg.user), ("password", &cfg.pass)] {
            if s.contains(['\r', '\n', '\0']) {
                return Err(BounceError::BadCredential { what });
            }
        }
        let ports_total = targets.iter().map(|(_, p)| p.len()).sum();
        let mut s = BounceSession {
            cfg,
            targets,
            host: 0,
            port: 0,
            state: State::Connecting,
            deadline: None,
            commands: VecDeque::new(),
            results: VecDeque::new(),
            skipped: VecDeque::new(),
            partial: Vec::new(),
            parser: ReplyParser::new(),
            verb: ListVerb::List,
            privileged_refused: false,
            third_party_ok: false,
            refusal: None,
            failures: 0,
            connections: 0,
            ports_total,
            ports_done: 0,
            error: None,
        };
        s.skip_unreachable();
        if s.current().is_none() {
            s.state = State::Done;
        } else {
            s.commands.push_back(Command::Connect);
        }
        Ok(s)
    }

    /// The next thing to do with the control connection.
    pub fn poll_command(&mut self) -> Option<Command> {
        self.commands.pop_front()
    }

    /// The next decided port.
    pub fn poll_result(&mut self) -> Option<BounceResult> {
        self.results.pop_front()
    }

    /// The next port that will not be probed, and why.
    pub fn poll_skipped(&mut self) -> Option<(IpAddr, u16, Skip)> {
        self.skipped.pop_front()
    }

    /// When [`BounceSession::handle_timeout`] must be called, if a reply is awaited.
    pub fn next_timeout(&self) -> Option<Instant> {
        self.deadline
    }

    /// True when every port is decided or skipped (or the session failed) and nothing is
    /// left to send.
    pub fn is_done(&self) -> bool {
        self.state == State::Done && self.commands.is_empty()
    }

    /// The error that ended the session, if one did.
    pub fn error(&self) -> Option<&BounceError> {
        self.error.as_ref()
    }

    /// Control connections opened so far.
    pub fn connections(&self) -> u32 {
        self.connections
    }

    /// Ports given.
    pub fn ports_total(&self) -> usize {
        self.ports_total
    }

    /// Ports decided or skipped so far.
    pub fn ports_done(&self) -> usize {
        self.ports_done
    }

    /// Ends the session now: the connection is closed, remaining ports stay undecided.
    pub fn stop(&mut self) {
        self.finish();
    }

    /// The connection asked for by [`Command::Connect`] is up.
    pub fn on_connected(&mut self, now: Instant) {
        if self.state == State::Connecting {
            self.connections += 1;
            self.partial.clear();
            self.parser = ReplyParser::new();
            self.await_reply(State::Greeting, now);
        }
    }

    /// Bytes the server sent on the control connection.
    pub fn on_data(&mut self, now: Instant, data: &[u8]) -> Result<(), BounceError> {
        self.check()?;
        let mut rest = data;
        while let Some(i) = rest.iter().position(|&b| b == b'\n') {
            let (head, tail) = rest.split_at(i);
            rest = tail.get(1..).unwrap_or(&[]);
            if self.partial.len() + head.len() > MAX_LINE + 1 {
                return self.fail(BounceError::LineTooLong { limit: MAX_LINE });
            }
            self.partial.extend_from_slice(head);
            if self.partial.last() == Some(&b'\r') {
                self.partial.pop();
            }
            if self.partial.len() > MAX_LINE {
                return self.fail(BounceError::LineTooLong { limit: MAX_LINE });
            }
            let line = String::from_utf8_lossy(&self.partial).into_owned();
            self.partial.clear();
            self.on_reply(now, &line)?;
            if self.state == State::Connecting || self.state == State::Done {
                // The rest belongs to a connection that is being replaced (or to none).
                return Ok(());
            }
        }
        if self.partial.len() + rest.len() > MAX_LINE + 1 {
            return self.fail(BounceError::LineTooLong { limit: MAX_LINE });
        }
        self.partial.extend_from_slice(rest);
        Ok(())
    }

    /// One line of a server reply, without its line end.
    pub fn on_reply(&mut self, now: Instant, line: &str) -> Result<(), BounceError> {
        self.check()?;
        match self.parser.push_line(line) {
            Ok(Some(reply)) => self.on_complete_reply(now, reply),
            Ok(None) => Ok(()),
            Err(e) => self.fail(e),
        }
    }

    /// The control connection ended (end of stream, reset, or a failed send).
    pub fn on_closed(&mut self, _now: Instant) -> Result<(), BounceError> {
        self.check()?;
        match self.state {
            State::Connecting | State::Done => Ok(()),
            State::Quit => {
                self.finish();
                Ok(())
            }
            State::List { opened: true, .. } => {
                self.decide(PortState::Open, Reason::SynAck);
                self.reconnect(None)
            }
            _ => self.reconnect(Some("closed the connection")),
        }
    }

    /// Call when [`BounceSession::next_timeout`] has passed.
    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), BounceError> {
        self.check()?;
        match self.deadline {
            Some(d) if now >= d => {}
            _ => return Ok(()),
        }
        self.deadline = None;
        match self.state {
            State::Connecting | State::Done => Ok(()),
            State::Quit => {
                self.finish();
                Ok(())
            }
            State::List { opened, .. } => {
                // The server is still in connect() (or stuck after it): the port is decided,
                // but this control connection answers nothing more.
                if opened {
                    self.decide(PortState::Open, Reason::SynAck);
                } else {
                    self.decide(PortState::Filtered, Reason::NoResponse);
                }
                self.reconnect(None)
            }
            _ => self.reconnect(Some("stopped answering")),
        }
    }

    fn check(&self) -> Result<(), BounceError> {
        match &self.error {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }

    fn fail<T>(&mut self, e: BounceError) -> Result<T, BounceError> {
        self.error = Some(e.clone());
        self.state = State::Done;
        self.deadline = None;
        self.commands.clear();
        self.commands.push_back(Command::Disconnect);
        Err(e)
    }

    fn finish(&mut self) {
        self.state = State::Done;
        self.deadline = None;
        self.commands.clear();
        self.commands.push_back(Command::Disconnect);
    }

    fn send(&mut self, line: String, next: State, now: Instant) {
        self.commands.push_back(Command::Send(line));
        self.await_reply(next, now);
    }

    fn await_reply(&mut self, next: State, now: Instant) {
        self.state = next;
        self.deadline = Some(now + self.cfg.timeout);
    }

    /// Drops the connection and opens another; `failure` says why when no port was
    /// decided on it (counted against [`BounceConfig::max_retries`]).
    fn reconnect(&mut self, failure: Option<&'static str>) -> Result<(), BounceError> {
        if let Some(last) = failure {
            self.failures += 1;
            if self.failures > self.cfg.max_retries {
                return self.fail(BounceError::ServerGone {
                    attempts: self.failures,
                    last,
                });
            }
        }
        self.commands.clear();
        self.commands.push_back(Command::Disconnect);
        self.deadline = None;
        if self.current().is_none() {
            self.state = State::Done;
        } else {
            self.state = State::Connecting;
            self.commands.push_back(Command::Connect);
        }
        Ok(())
    }

    fn current(&self) -> Option<(IpAddr, u16)> {
        let (addr, ports) = self.targets.get(self.host)?;
        ports.get(self.port).map(|&p| (*addr, p))
    }

    fn advance(&mut self) {
        self.ports_done += 1;
        self.port += 1;
        while let Some((_, ports)) = self.targets.get(self.host) {
            if self.port < ports.len() {
                break;
            }
            self.host += 1;
            self.port = 0;
        }
    }

    /// Skips, from the cursor on, every port that cannot be probed.
    fn skip_unreachable(&mut self) {
        while let Some((addr, port)) = self.current() {
            let why = if addr.is_ipv6() != self.cfg.server.is_ipv6() {
                Skip::FamilyMismatch
            } else if port < 1024 && self.privileged_refused {
                Skip::Privileged
            } else {
                return;
            };
            self.skipped.push_back((addr, port, why));
            self.advance();
        }
    }

    fn decide(&mut self, state: PortState, reason: Reason) {
        if let Some((addr, port)) = self.current() {
            self.results.push_back((addr, port, state, reason));
            self.advance();
            self.failures = 0;
        }
    }

    /// Skips the current port because the server refused a privileged port.
    fn refuse_privileged(&mut self) {
        self.privileged_refused = true;
        if let Some((addr, port)) = self.current() {
            self.skipped.push_back((addr, port, Skip::Privileged));
            self.advance();
            self.failures = 0;
        }
    }

    /// Sends `PORT`/`EPRT` for the next probeable port, or `QUIT` when none is left.
    fn probe_next(&mut self, now: Instant) {
        self.skip_unreachable();
        match self.current() {
            None => self.send("QUIT\r\n".to_owned(), State::Quit, now),
            Some((addr, port)) => self.send(port_command(addr, port), State::Port, now),
        }
    }

    fn send_list(&mut self, now: Instant) {
        let verb = match self.verb {
            ListVerb::List => "LIST\r\n",
            ListVerb::Nlst => "NLST\r\n",
        };
        self.send(
            verb.to_owned(),
            State::List {
                sent: now,
                opened: false,
            },
            now,
        );
    }

    fn on_complete_reply(&mut self, now: Instant, reply: Reply) -> Result<(), BounceError> {
        let class = reply.code / 100;
        let shown = || reply.to_string();
        match self.state {
            State::Greeting => match reply.code {
                220 => {
                    let user = format!("USER {}\r\n", self.cfg.user);
                    self.send(user, State::User, now);
                    Ok(())
                }
                // "Ready in n minutes": the deadline still holds.
                120 => Ok(()),
                421 => self.reconnect(Some("closed the connection")),
                _ => self.fail(BounceError::Greeting { reply: shown() }),
            },
            State::User | State::Pass => match reply.code {
                230 | 202 => {
                    self.probe_next(now);
                    Ok(())
                }
                331 if self.state == State::User => {
                    let pass = format!("PASS {}\r\n", self.cfg.pass);
                    self.send(pass, State::Pass, now);
                    Ok(())
                }
                332 => self.fail(BounceError::AccountNeeded { reply: shown() }),
                421 => self.reconnect(Some("closed the connection")),
                _ if class >= 4 => {
                    let user = self.cfg.user.clone();
                    self.fail(BounceError::LoginRefused {
                        user,
                        reply: shown(),
                    })
                }
                _ => self.unexpected(reply),
            },
            State::Port => match reply.code {
                200..=299 => {
                    self.third_party_ok = true;
                    self.send_list(now);
                    Ok(())
                }
                421 => self.reconnect(Some("closed the connection")),
                530 => {
                    let user = self.cfg.user.clone();
                    self.fail(BounceError::LoginRefused {
                        user,
                        reply: shown(),
                    })
                }
                500..=599 => self.port_refused(now, reply),
                _ => self.unexpected(reply),
            },
            State::PortCheck => {
                let original = self.refusal.take().unwrap_or_else(shown);
                match reply.code {
                    200..=299 => {
                        self.refuse_privileged();
                        self.probe_next(now);
                        Ok(())
                    }
                    421 => self.reconnect(Some("closed the connection")),
                    500..=599 => self.third_party_refused(original),
                    _ => self.unexpected(reply),
                }
            }
            State::List { sent, opened } => match reply.code {
                100..=199 => {
                    self.await_reply(State::List { sent, opened: true }, now);
                    Ok(())
                }
                200..=299 | 426 => {
                    self.decide(PortState::Open, Reason::SynAck);
                    self.probe_next(now);
                    Ok(())
                }
                425 => {
                    if now.saturating_duration_since(sent) >= self.cfg.slow_refusal {
                        self.decide(PortState::Filtered, Reason::NoResponse);
                    } else {
                        self.decide(PortState::Closed, Reason::ConnRefused);
                    }
                    self.probe_next(now);
                    Ok(())
                }
                421 => self.on_closed(now),
                530 => {
                    let user = self.cfg.user.clone();
                    self.fail(BounceError::LoginRefused {
                        user,
                        reply: shown(),
                    })
                }
                _ if opened && class >= 4 => {
                    // The server did connect; what failed came after.
                    self.decide(PortState::Open, Reason::SynAck);
                    self.probe_next(now);
                    Ok(())
                }
                _ if class >= 4 => self.list_refused(now, reply),
                _ => self.unexpected(reply),
            },
            State::Quit => {
                self.finish();
                Ok(())
            }
            State::Connecting | State::Done => self.unexpected(reply),
        }
    }

    fn unexpected(&mut self, reply: Reply) -> Result<(), BounceError> {
        let after = self.state.command();
        self.fail(BounceError::Unexpected {
            after,
            reply: reply.to_string(),
        })
    }

    /// A 5xx to `PORT`/`EPRT`.
    fn port_refused(&mut self, now: Instant, reply: Reply) -> Result<(), BounceError> {
        let Some((target, port)) = self.current() else {
            return self.unexpected(reply);
        };
        if port < 1024 && !self.privileged_refused {
            // Some servers refuse only privileged ports: ask again for an unprivileged one
            // (PORT alone connects nowhere) to tell which refusal this is.
            self.refusal = Some(reply.to_string());
            self.send(port_command(target, 1024), State::PortCheck, now);
            return Ok(());
        }
        self.third_party_refused(reply.to_string())
    }

    fn third_party_refused(&mut self, reply: String) -> Result<(), BounceError> {
        let Some((target, port)) = self.current() else {
            return self.fail(BounceError::Unexpected {
                after: "PORT",
                reply,
            });
        };
        if self.third_party_ok {
            // This server has bounced before: the session failed. Try the port again on
            // a new one, a bounded number of times, then leave the port out.
            if self.failures < self.cfg.max_retries {
                return self.reconnect(Some("refused PORT after accepting it"));
            }
            self.skipped.push_back((target, port, Skip::Refused));
            self.advance();
            self.failures = 0;
            return self.reconnect(None);
        }
        let command = if target.is_ipv6() { "EPRT" } else { "PORT" };
        self.fail(BounceError::PortRefused {
            command,
            target,
            port,
            reply,
        })
    }

    /// A 4xx/5xx to `LIST`/`NLST` before any 1xx (other than 421, 425, 426, 530).
    fn list_refused(&mut self, now: Instant, reply: Reply) -> Result<(), BounceError> {
        let Some((_, port)) = self.current() else {
            return self.unexpected(reply);
        };
        if port < 1024 && !self.privileged_refused && reply.code / 100 == 5 {
            // vsftpd accepts PORT to a privileged port, then answers LIST with
            // "500 OOPS: Illegal port request" and ends the session.
            self.refuse_privileged();
            self.probe_next(now);
            return Ok(());
        }
        if self.verb == ListVerb::List && matches!(reply.code, 500 | 502) {
            // LIST not understood: try NLST; PORT again, as the refusal may have used it up.
            self.verb = ListVerb::Nlst;
            self.probe_next(now);
            return Ok(());
        }
        self.fail(BounceError::ListFailed {
            reply: reply.to_string(),
        })
    }
}

/// `PORT a1,a2,a3,a4,p1,p2` (RFC 959) for IPv4, `EPRT |2|addr|port|` (RFC 2428) for IPv6.
pub fn port_command(addr: IpAddr, port: u16) -> String {
    match addr {
        IpAddr::V4(a) => {
            let [a1, a2, a3, a4] = a.octets();
            let [p1, p2] = port.to_be_bytes();
            format!("PORT {a1},{a2},{a3},{a4},{p1},{p2}\r\n")
        }
        IpAddr::V6(a) => format!("EPRT |2|{a}|{port}|\r\n"),
    }
}

/// The `-b` argument: `[user[:password]@]server[:port]`, as nmap takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BounceServer {
    /// User name ([`DEFAULT_USER`] when not given).
    pub user: String,
    /// Password ([`DEFAULT_PASS`] when not given).
    pub pass: String,
    /// Host name or address, brackets removed from an IPv6 literal.
    pub host: String,
    /// Control port ([`DEFAULT_FTP_PORT`] when not given).
    pub port: u16,
}

impl BounceServer {
    /// Parses `[user[:password]@]server[:port]`. The password may contain `@` and `:`
    /// (the last `@` ends it); an IPv6 server with a port is written `[addr]:port`.
    pub fn parse(spec: &str) -> Result<BounceServer, BounceError> {
        let bad = |why| BounceError::BadSpec {
            spec: clean(spec),
            why,
        };
        let (cred, hostport) = match spec.rsplit_once('@') {
            Some((c, h)) => (Some(c), h),
            None => (None, spec),
        };
        let (user, pass) = match cred {
            None => (DEFAULT_USER.to_owned(), DEFAULT_PASS.to_owned()),
            Some(c) => match c.split_once(':') {
                Some((u, p)) => (u.to_owned(), p.to_owned()),
                None => (c.to_owned(), DEFAULT_PASS.to_owned()),
            },
        };
        if user.is_empty() {
            return Err(bad("empty user name"));
        }
        for (what, s) in [("user name", &user), ("password", &pass)] {
            if s.contains(['\r', '\n', '\0']) {
                return Err(BounceError::BadCredential { what });
            }
        }
        let parse_port = |p: &str| match p.parse::<u16>() {
            Ok(0) | Err(_) => Err(bad("the port must be 1 to 65535")),
            Ok(n) => Ok(n),
        };
        let (host, port) = if let Some(rest) = hostport.strip_prefix('[') {
            let (h, after) = rest
                .split_once(']')
                .ok_or_else(|| bad("missing ] after an IPv6 address"))?;
            let port = match after {
                "" => DEFAULT_FTP_PORT,
                a => parse_port(
                    a.strip_prefix(':')
                        .ok_or_else(|| bad("only :port may follow ]"))?,
                )?,
            };
            (h.to_owned(), port)
        } else if hostport.matches(':').count() > 1 {
            // A bare IPv6 address: no port.
            (hostport.to_owned(), DEFAULT_FTP_PORT)
        } else {
            match hostport.split_once(':') {
                Some((h, p)) => (h.to_owned(), parse_port(p)?),
                None => (hostport.to_owned(), DEFAULT_FTP_PORT),
            }
        };
        if host.is_empty() {
            return Err(bad("no server"));
        }
        Ok(BounceServer {
            user,
            pass,
            host,
            port,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    const T: Duration = Duration::from_secs(5);
    const SERVER: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 21));
    const TARGET: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 77, 1, 11));

    fn send(s: &str) -> Command {
        Command::Send(format!("{s}\r\n"))
    }

    fn commands(s: &mut BounceSession) -> Vec<Command> {
        std::iter::from_fn(|| s.poll_command()).collect()
    }

    fn results(s: &mut BounceSession) -> Vec<BounceResult> {
        std::iter::from_fn(|| s.poll_result()).collect()
    }

    fn skipped(s: &mut BounceSession) -> Vec<(IpAddr, u16, Skip)> {
        std::iter::from_fn(|| s.poll_skipped()).collect()
    }

    fn session(ports: &[u16]) -> BounceSession {
        let cfg = BounceConfig::new(SERVER, "anonymous", "me@", T);
        BounceSession::new(cfg, vec![(TARGET, ports.to_vec())]).unwrap()
    }

    /// Feeds `text` (lines joined with CRLF) and returns the commands that follow.
    fn say(s: &mut BounceSession, now: Instant, text: &str) -> Vec<Command> {
        s.on_data(now, format!("{text}\r\n").as_bytes()).unwrap();
        commands(s)
    }

    /// Connects and logs in with USER/PASS; returns the commands after the login.
    fn login(s: &mut BounceSession, now: Instant) -> Vec<Command> {
        let c = commands(s);
        assert!(
            c == [Command::Connect] || c == [Command::Disconnect, Command::Connect],
            "{c:?}"
        );
        s.on_connected(now);
        assert_eq!(say(s, now, "220 hi"), [send("USER anonymous")]);
        assert_eq!(say(s, now, "331 password?"), [send("PASS me@")]);
        say(s, now, "230 in")
    }

    fn open(port: u16) -> BounceResult {
        (TARGET, port, PortState::Open, Reason::SynAck)
    }

    fn closed(port: u16) -> BounceResult {
        (TARGET, port, PortState::Closed, Reason::ConnRefused)
    }

    fn filtered(port: u16) -> BounceResult {
        (TARGET, port, PortState::Filtered, Reason::NoResponse)
    }

    #[test]
    fn accepting_server_open_closed_filtered() {
        let t0 = Instant::now();
        let mut s = session(&[3306, 2323, 20000, 65535]);
        assert_eq!(s.ports_total(), 4);
        assert_eq!(commands(&mut s), [Command::Connect]);
        s.on_connected(t0);
        assert_eq!(s.next_timeout(), Some(t0 + T));
        // Multi-line banner, split across reads and mid-CRLF.
        s.on_data(t0, b"220-Welcome\r\n220-to 220 nothing\r")
            .unwrap();
        assert_eq!(commands(&mut s), []);
        s.on_data(t0, b"\n   indented\r\n220 ").unwrap();
        assert_eq!(commands(&mut s), []);
        assert_eq!(say(&mut s, t0, "ready"), [send("USER anonymous")]);
        assert_eq!(say(&mut s, t0, "331 ok"), [send("PASS me@")]);
        assert_eq!(
            say(&mut s, t0, "230 Login successful."),
            [send("PORT 10,77,1,11,12,234")]
        );
        assert_eq!(say(&mut s, t0, "200 PORT ok"), [send("LIST")]);
        assert_eq!(say(&mut s, t0, "150 Here comes the listing."), []);
        assert_eq!(results(&mut s), []);
        assert_eq!(
            say(&mut s, t0, "226 Directory send OK."),
            [send("PORT 10,77,1,11,9,19")]
        );
        assert_eq!(results(&mut s), [open(3306)]);
        assert_eq!(say(&mut s, t0, "200 PORT ok"), [send("LIST")]);
        let t1 = t0 + Duration::from_millis(3);
        assert_eq!(
            say(&mut s, t1, "425 Failed to establish connection."),
            [send("PORT 10,77,1,11,78,32")]
        );
        assert_eq!(results(&mut s), [closed(2323)]);
        assert_eq!(say(&mut s, t1, "200 PORT ok"), [send("LIST")]);
        // Dropped: the server stays in connect(); our timeout decides, then a new login.
        assert_eq!(s.next_timeout(), Some(t1 + T));
        s.handle_timeout(t1 + T - Duration::from_millis(1)).unwrap();
        assert_eq!(commands(&mut s), []);
        let t2 = t1 + T;
        s.handle_timeout(t2).unwrap();
        assert_eq!(commands(&mut s), [Command::Disconnect, Command::Connect]);
        assert_eq!(results(&mut s), [filtered(20000)]);
        assert_eq!(s.next_timeout(), None);
        s.on_connected(t2);
        assert_eq!(say(&mut s, t2, "220 again"), [send("USER anonymous")]);
        // No password needed this time.
        assert_eq!(
            say(&mut s, t2, "230 welcome back"),
            [send("PORT 10,77,1,11,255,255")]
        );
        // 1xx then 2xx in one read.
        assert_eq!(say(&mut s, t2, "200 ok"), [send("LIST")]);
        assert_eq!(say(&mut s, t2, "125 open\r\n250 done"), [send("QUIT")]);
        assert_eq!(results(&mut s), [open(65535)]);
        assert!(!s.is_done());
        assert_eq!(say(&mut s, t2, "221 Goodbye."), [Command::Disconnect]);
        assert!(s.is_done());
        assert_eq!(s.connections(), 2);
        assert_eq!(s.ports_done(), 4);
        assert_eq!(s.error(), None);
    }

    #[test]
    fn slow_refusal_is_filtered_and_426_is_open() {
        let t0 = Instant::now();
        let mut s = session(&[5000, 5001, 5002, 5003]);
        assert_eq!(login(&mut s, t0), [send("PORT 10,77,1,11,19,136")]);
        say(&mut s, t0, "200 ok");
        // Exactly slow_refusal after LIST: filtered (the server's connect timed out).
        let t1 = t0 + DEFAULT_SLOW_REFUSAL;
        say(&mut s, t1, "425 Failed to establish connection.");
        say(&mut s, t1, "200 ok");
        // Just under it: closed (e.g. a RST after one SYN retransmission).
        let t2 = t1 + DEFAULT_SLOW_REFUSAL - Duration::from_millis(1);
        say(&mut s, t2, "425 Failed to establish connection.");
        say(&mut s, t2, "200 ok");
        say(
            &mut s,
            t2,
            "150 opening\r\n426 Connection closed; transfer aborted.",
        );
        say(&mut s, t2, "200 ok");
        // 1xx, then a local error: the server did connect.
        assert_eq!(
            say(&mut s, t2, "150 opening\r\n451 local error"),
            [send("QUIT")]
        );
        assert_eq!(
            results(&mut s),
            [filtered(5000), closed(5001), open(5002), open(5003)]
        );
    }

    #[test]
    fn server_refusing_third_party_port_is_a_clear_error() {
        let t0 = Instant::now();
        let mut s = session(&[3306, 80]);
        login(&mut s, t0);
        let e = BounceError::PortRefused {
            command: "PORT",
            target: TARGET,
            port: 3306,
            reply: "\"500 Illegal PORT command.\"".to_owned(),
        };
        assert_eq!(
            s.on_data(t0, b"500 Illegal PORT command.\r\n"),
            Err(e.clone())
        );
        assert_eq!(commands(&mut s), [Command::Disconnect]);
        assert!(s.is_done());
        assert_eq!(s.error(), Some(&e));
        // The error sticks.
        assert_eq!(s.on_data(t0, b"200 ok\r\n"), Err(e.clone()));
        assert_eq!(s.handle_timeout(t0 + T), Err(e.clone()));
        assert_eq!(
            e.to_string(),
            "the FTP server refuses PORT to 10.77.1.11 port 3306 (\"500 Illegal PORT command.\"): \
             it cannot be used for a bounce scan, which needs a server that accepts PORT/EPRT \
             naming a third party (vsftpd: port_promiscuous=YES)"
        );
    }

    #[test]
    fn refused_privileged_port_is_checked_with_an_unprivileged_one() {
        let t0 = Instant::now();
        // The check passes: only privileged ports are refused; later ones are skipped.
        let mut s = session(&[22, 3306, 80]);
        assert_eq!(login(&mut s, t0), [send("PORT 10,77,1,11,0,22")]);
        assert_eq!(
            say(&mut s, t0, "500 Illegal PORT command."),
            [send("PORT 10,77,1,11,4,0")]
        );
        assert_eq!(say(&mut s, t0, "200 ok"), [send("PORT 10,77,1,11,12,234")]);
        say(&mut s, t0, "200 ok");
        assert_eq!(say(&mut s, t0, "150 a\r\n226 b"), [send("QUIT")]);
        assert_eq!(results(&mut s), [open(3306)]);
        assert_eq!(
            skipped(&mut s),
            [
                (TARGET, 22, Skip::Privileged),
                (TARGET, 80, Skip::Privileged)
            ]
        );
        // The check fails too: no third parties at all, and the error names the real port.
        let mut s = session(&[22, 3306]);
        login(&mut s, t0);
        say(&mut s, t0, "500 Illegal PORT command.");
        assert_eq!(
            s.on_data(t0, b"500 Illegal PORT command.\r\n"),
            Err(BounceError::PortRefused {
                command: "PORT",
                target: TARGET,
                port: 22,
                reply: "\"500 Illegal PORT command.\"".to_owned(),
            })
        );
    }

    #[test]
    fn vsftpd_oops_on_privileged_list_skips_privileged_ports_and_reconnects() {
        let t0 = Instant::now();
        let mut s = session(&[22, 80, 3306, 443, 49153]);
        login(&mut s, t0);
        assert_eq!(
            say(&mut s, t0, "200 PORT command successful."),
            [send("LIST")]
        );
        // vsftpd says this, then ends the session.
        assert_eq!(
            say(&mut s, t0, "500 OOPS: Illegal port request"),
            [send("PORT 10,77,1,11,12,234")]
        );
        s.on_closed(t0).unwrap();
        assert_eq!(commands(&mut s), [Command::Disconnect, Command::Connect]);
        // The same port again on a new connection.
        s.on_connected(t0);
        assert_eq!(say(&mut s, t0, "220 hi"), [send("USER anonymous")]);
        say(&mut s, t0, "331 pw");
        assert_eq!(say(&mut s, t0, "230 ok"), [send("PORT 10,77,1,11,12,234")]);
        say(&mut s, t0, "200 ok");
        assert_eq!(say(&mut s, t0, "150 a"), []);
        assert_eq!(say(&mut s, t0, "226 b"), [send("PORT 10,77,1,11,192,1")]);
        say(&mut s, t0, "200 ok");
        assert_eq!(say(&mut s, t0, "425 no"), [send("QUIT")]);
        // The server closes instead of answering QUIT: fine.
        s.on_closed(t0).unwrap();
        assert_eq!(commands(&mut s), [Command::Disconnect]);
        assert!(s.is_done());
        assert_eq!(results(&mut s), [open(3306), closed(49153)]);
        assert_eq!(
            skipped(&mut s),
            [
                (TARGET, 22, Skip::Privileged),
                (TARGET, 80, Skip::Privileged),
                (TARGET, 443, Skip::Privileged)
            ]
        );
        assert_eq!(s.connections(), 2);
    }

    #[test]
    fn login_failures_are_typed() {
        let t0 = Instant::now();
        let mut s = session(&[3306]);
        assert_eq!(commands(&mut s), [Command::Connect]);
        s.on_connected(t0);
        say(&mut s, t0, "220 hi");
        assert_eq!(
            s.on_reply(t0, "500 OOPS: cannot change directory:/nonexistent"),
            Err(BounceError::LoginRefused {
                user: "anonymous".to_owned(),
                reply: "\"500 OOPS: cannot change directory:/nonexistent\"".to_owned(),
            })
        );
        let mut s = session(&[3306]);
        commands(&mut s);
        s.on_connected(t0);
        say(&mut s, t0, "220 hi");
        say(&mut s, t0, "331 pw");
        assert_eq!(
            s.on_reply(t0, "530 Login incorrect."),
            Err(BounceError::LoginRefused {
                user: "anonymous".to_owned(),
                reply: "\"530 Login incorrect.\"".to_owned(),
            })
        );
        let mut s = session(&[3306]);
        commands(&mut s);
        s.on_connected(t0);
        say(&mut s, t0, "220 hi");
        say(&mut s, t0, "331 pw");
        assert_eq!(
            s.on_reply(t0, "332 account?"),
            Err(BounceError::AccountNeeded {
                reply: "\"332 account?\"".to_owned()
            })
        );
        let mut s = session(&[3306]);
        commands(&mut s);
        s.on_connected(t0);
        assert_eq!(
            s.on_reply(t0, "554 go away"),
            Err(BounceError::Greeting {
                reply: "\"554 go away\"".to_owned()
            })
        );
        let mut s = session(&[3306]);
        commands(&mut s);
        s.on_connected(t0);
        say(&mut s, t0, "220 hi");
        assert_eq!(
            s.on_reply(t0, "200 what?"),
            Err(BounceError::Unexpected {
                after: "USER",
                reply: "\"200 what?\"".to_owned()
            })
        );
    }

    #[test]
    fn credentials_with_line_breaks_are_refused() {
        let cfg = BounceConfig::new(SERVER, "anonymous", "x\r\nDELE y", T);
        assert_eq!(
            BounceSession::new(cfg, vec![]).err(),
            Some(BounceError::BadCredential { what: "password" })
        );
        let cfg = BounceConfig::new(SERVER, "a\nb", "x", T);
        assert_eq!(
            BounceSession::new(cfg, vec![]).err(),
            Some(BounceError::BadCredential { what: "user name" })
        );
    }

    #[test]
    fn garbage_is_a_typed_error() {
        let t0 = Instant::now();
        let mut s = session(&[3306]);
        commands(&mut s);
        s.on_connected(t0);
        assert_eq!(
            s.on_data(t0, b"SSH-2.0-OpenSSH_9.2\r\n"),
            Err(BounceError::Malformed {
                line: "SSH-2.0-OpenSSH_9.2".to_owned()
            })
        );
        assert_eq!(commands(&mut s), [Command::Disconnect]);
        // Reply class 6 does not exist; control characters are not echoed.
        let mut s = session(&[3306]);
        commands(&mut s);
        s.on_connected(t0);
        assert_eq!(
            s.on_data(t0, b"600 \x1b[2Jboo\r\n"),
            Err(BounceError::Malformed {
                line: "600 ?[2Jboo".to_owned()
            })
        );
        let mut s = session(&[3306]);
        commands(&mut s);
        s.on_connected(t0);
        assert_eq!(
            s.on_data(t0, b"22x hi\n"),
            Err(BounceError::Malformed {
                line: "22x hi".to_owned()
            })
        );
    }

    #[test]
    fn huge_lines_and_endless_replies_are_bounded() {
        let t0 = Instant::now();
        // A line without end, fed in pieces: refused once it passes MAX_LINE.
        let mut s = session(&[3306]);
        commands(&mut s);
        s.on_connected(t0);
        let chunk = [b'2'; 1000];
        for _ in 0..4 {
            s.on_data(t0, &chunk).unwrap();
        }
        assert_eq!(
            s.on_data(t0, &chunk),
            Err(BounceError::LineTooLong { limit: MAX_LINE })
        );
        // Exactly MAX_LINE bytes plus CRLF is fine.
        let mut s = session(&[3306]);
        commands(&mut s);
        s.on_connected(t0);
        let mut line = b"220 ".to_vec();
        line.resize(MAX_LINE, b'x');
        line.extend_from_slice(b"\r\n");
        s.on_data(t0, &line).unwrap();
        assert_eq!(commands(&mut s), [send("USER anonymous")]);
        // One byte more is not, even when it arrives whole.
        let mut s = session(&[3306]);
        commands(&mut s);
        s.on_connected(t0);
        let mut line = b"220 ".to_vec();
        line.resize(MAX_LINE + 1, b'x');
        line.push(b'\n');
        assert_eq!(
            s.on_data(t0, &line),
            Err(BounceError::LineTooLong { limit: MAX_LINE })
        );
        // A multi-line reply that never ends.
        let mut s = session(&[3306]);
        commands(&mut s);
        s.on_connected(t0);
        s.on_data(t0, b"220-banner\r\n").unwrap();
        for _ in 1..MAX_REPLY_LINES {
            s.on_data(t0, b"more\r\n").unwrap();
        }
        assert_eq!(
            s.on_data(t0, b"more\r\n"),
            Err(BounceError::ReplyTooLong {
                limit: MAX_REPLY_LINES
            })
        );
        // Invalid UTF-8 in a reply's text is harmless.
        let mut s = session(&[3306]);
        commands(&mut s);
        s.on_connected(t0);
        s.on_data(t0, b"220 \xff\xfe\r\n").unwrap();
        assert_eq!(commands(&mut s), [send("USER anonymous")]);
    }

    #[test]
    fn a_server_that_keeps_failing_is_given_up() {
        let t0 = Instant::now();
        let mut s = session(&[3306]);
        for i in 0..DEFAULT_MAX_RETRIES {
            assert_eq!(commands(&mut s).last(), Some(&Command::Connect), "try {i}");
            s.on_connected(t0);
            s.on_closed(t0).unwrap();
        }
        assert_eq!(commands(&mut s), [Command::Disconnect, Command::Connect]);
        s.on_connected(t0);
        say(&mut s, t0, "220 hi");
        // Silence after USER, the fourth failure in a row.
        assert_eq!(
            s.handle_timeout(t0 + T),
            Err(BounceError::ServerGone {
                attempts: DEFAULT_MAX_RETRIES + 1,
                last: "stopped answering"
            })
        );
        assert_eq!(commands(&mut s), [Command::Disconnect]);
        assert!(s.is_done());
    }

    #[test]
    fn a_decided_port_resets_the_failure_count() {
        let t0 = Instant::now();
        let mut s = session(&[5000, 5001]);
        // Three drops during login, then a port, then three more: never given up.
        for _ in 0..DEFAULT_MAX_RETRIES {
            commands(&mut s);
            s.on_connected(t0);
            s.on_closed(t0).unwrap();
        }
        login(&mut s, t0);
        say(&mut s, t0, "200 ok");
        say(&mut s, t0, "425 no");
        for _ in 0..DEFAULT_MAX_RETRIES {
            s.on_closed(t0).unwrap();
            commands(&mut s);
            s.on_connected(t0);
        }
        say(&mut s, t0, "220 hi");
        say(&mut s, t0, "230 ok");
        say(&mut s, t0, "200 ok");
        assert_eq!(say(&mut s, t0, "425 no"), [send("QUIT")]);
        assert_eq!(results(&mut s), [closed(5000), closed(5001)]);
    }

    #[test]
    fn service_closing_421_reconnects_and_retries_the_port() {
        let t0 = Instant::now();
        let mut s = session(&[5000]);
        login(&mut s, t0);
        say(&mut s, t0, "200 ok");
        assert_eq!(
            say(&mut s, t0, "421 Timeout."),
            [Command::Disconnect, Command::Connect]
        );
        s.on_connected(t0);
        say(&mut s, t0, "220 hi");
        assert_eq!(say(&mut s, t0, "230 ok"), [send("PORT 10,77,1,11,19,136")]);
    }

    #[test]
    fn a_failed_session_after_bouncing_reconnects_then_leaves_the_port_out() {
        // vsftpd, seen in CI: after a connect that timed out, the next PORT got
        // "500 OOPS: priv_sock_get_cmd" (its session process had died).
        let t0 = Instant::now();
        let mut s = session(&[20000, 20001, 20002]);
        login(&mut s, t0);
        say(&mut s, t0, "200 ok");
        let t1 = t0 + Duration::from_secs(3);
        assert_eq!(
            say(&mut s, t1, "425 timed out"),
            [send("PORT 10,77,1,11,78,33")]
        );
        assert_eq!(results(&mut s), [filtered(20000)]);
        // The same port again on a new session; it works this time.
        s.on_data(t1, b"500 OOPS: priv_sock_get_cmd\r\n").unwrap();
        assert_eq!(login(&mut s, t1), [send("PORT 10,77,1,11,78,33")]);
        say(&mut s, t1, "200 ok");
        assert_eq!(say(&mut s, t1, "226 ok"), [send("PORT 10,77,1,11,78,34")]);
        assert_eq!(results(&mut s), [open(20001)]);
        // A port refused on every try is left out, and the scan goes on.
        for _ in 0..DEFAULT_MAX_RETRIES {
            s.on_data(t1, b"500 no\r\n").unwrap();
            assert_eq!(login(&mut s, t1), [send("PORT 10,77,1,11,78,34")]);
        }
        assert_eq!(say(&mut s, t1, "500 no"), [Command::Disconnect]);
        assert!(s.is_done());
        assert_eq!(s.error(), None);
        assert_eq!(skipped(&mut s), [(TARGET, 20002, Skip::Refused)]);
        assert_eq!(s.ports_done(), 3);
    }

    #[test]
    fn a_server_that_never_bounced_and_refuses_is_still_an_error() {
        let t0 = Instant::now();
        let mut s = session(&[20000]);
        login(&mut s, t0);
        assert!(matches!(
            s.on_data(t0, b"500 Illegal PORT command.\r\n"),
            Err(BounceError::PortRefused { port: 20000, .. })
        ));
        assert_eq!(commands(&mut s), [Command::Disconnect]);
    }

    #[test]
    fn list_not_understood_falls_back_to_nlst() {
        let t0 = Instant::now();
        let mut s = session(&[5000, 5001]);
        login(&mut s, t0);
        assert_eq!(say(&mut s, t0, "200 ok"), [send("LIST")]);
        assert_eq!(
            say(&mut s, t0, "502 LIST not implemented"),
            [send("PORT 10,77,1,11,19,136")]
        );
        assert_eq!(say(&mut s, t0, "200 ok"), [send("NLST")]);
        say(&mut s, t0, "150 a\r\n226 b");
        assert_eq!(say(&mut s, t0, "200 ok"), [send("NLST")]);
        assert_eq!(
            s.on_reply(t0, "550 No files found."),
            Err(BounceError::ListFailed {
                reply: "\"550 No files found.\"".to_owned()
            })
        );
        assert_eq!(results(&mut s), [open(5000)]);
    }

    #[test]
    fn families_follow_the_server() {
        let t0 = Instant::now();
        let v6 = IpAddr::V6(Ipv6Addr::new(0xfd77, 1, 0, 0, 0, 0, 0, 0x11));
        // IPv4 server: IPv6 targets are skipped; nothing left means no connection at all.
        let cfg = BounceConfig::new(SERVER, "anonymous", "me@", T);
        let mut s = BounceSession::new(cfg, vec![(v6, vec![22, 80])]).unwrap();
        assert!(s.is_done());
        assert_eq!(commands(&mut s), []);
        assert_eq!(
            skipped(&mut s),
            [
                (v6, 22, Skip::FamilyMismatch),
                (v6, 80, Skip::FamilyMismatch)
            ]
        );
        assert_eq!(s.ports_done(), 2);
        // IPv6 server: EPRT for IPv6 targets, IPv4 targets skipped.
        let server6 = IpAddr::V6(Ipv6Addr::new(0xfd77, 1, 0, 0, 0, 0, 0, 0x10));
        let cfg = BounceConfig::new(server6, "anonymous", "me@", T);
        let mut s = BounceSession::new(cfg, vec![(TARGET, vec![3306]), (v6, vec![3306])]).unwrap();
        assert_eq!(login(&mut s, t0), [send("EPRT |2|fd77:1::11|3306|")]);
        assert_eq!(skipped(&mut s), [(TARGET, 3306, Skip::FamilyMismatch)]);
        assert_eq!(
            s.on_reply(t0, "522 Network protocol not supported, use (1)"),
            Err(BounceError::PortRefused {
                command: "EPRT",
                target: v6,
                port: 3306,
                reply: "\"522 Network protocol not supported, use (1)\"".to_owned()
            })
        );
    }

    #[test]
    fn no_ports_means_done_without_connecting() {
        let cfg = BounceConfig::new(SERVER, "anonymous", "me@", T);
        let mut s = BounceSession::new(cfg, vec![(TARGET, vec![])]).unwrap();
        assert!(s.is_done());
        assert_eq!(commands(&mut s), []);
        assert_eq!(s.next_timeout(), None);
    }

    #[test]
    fn stop_closes_at_once() {
        let t0 = Instant::now();
        let mut s = session(&[5000]);
        login(&mut s, t0);
        s.stop();
        assert_eq!(commands(&mut s), [Command::Disconnect]);
        assert!(s.is_done());
        assert_eq!(s.next_timeout(), None);
        assert_eq!(results(&mut s), []);
    }

    #[test]
    fn reply_parser_follows_rfc_959() {
        let mut p = ReplyParser::new();
        assert_eq!(
            p.push_line("230"),
            Ok(Some(Reply {
                code: 230,
                text: String::new()
            }))
        );
        assert_eq!(p.push_line("123-First line"), Ok(None));
        assert_eq!(p.push_line("Second line"), Ok(None));
        assert_eq!(p.push_line("  234 A line beginning with numbers"), Ok(None));
        assert_eq!(p.push_line("234 not the end either"), Ok(None));
        assert_eq!(p.push_line("123-still not"), Ok(None));
        assert_eq!(
            p.push_line("123 The last line"),
            Ok(Some(Reply {
                code: 123,
                text: "The last line".to_owned()
            }))
        );
        assert_eq!(p.push_line(""), Ok(None));
        assert_eq!(
            p.push_line("2"),
            Err(BounceError::Malformed {
                line: "2".to_owned()
            })
        );
        assert_eq!(
            p.push_line("0200 x"),
            Err(BounceError::Malformed {
                line: "0200 x".to_owned()
            })
        );
        assert_eq!(
            Reply {
                code: 220,
                text: "a\tb".to_owned()
            }
            .to_string(),
            "\"220 a?b\""
        );
    }

    #[test]
    fn port_commands() {
        assert_eq!(port_command(TARGET, 22), "PORT 10,77,1,11,0,22\r\n");
        assert_eq!(port_command(TARGET, 65535), "PORT 10,77,1,11,255,255\r\n");
        assert_eq!(port_command(TARGET, 256), "PORT 10,77,1,11,1,0\r\n");
        assert_eq!(
            port_command(IpAddr::V6(Ipv6Addr::LOCALHOST), 8080),
            "EPRT |2|::1|8080|\r\n"
        );
    }

    #[test]
    fn server_spec_parses_like_nmap() {
        let p = |s: &str| BounceServer::parse(s);
        let srv = |u: &str, pw: &str, h: &str, port: u16| {
            Ok(BounceServer {
                user: u.to_owned(),
                pass: pw.to_owned(),
                host: h.to_owned(),
                port,
            })
        };
        assert_eq!(
            p("ftp.example"),
            srv("anonymous", "monban@", "ftp.example", 21)
        );
        assert_eq!(
            p("10.0.0.1:2121"),
            srv("anonymous", "monban@", "10.0.0.1", 2121)
        );
        assert_eq!(p("bob@h"), srv("bob", "monban@", "h", 21));
        assert_eq!(p("bob:s3:cr@t@h:990"), srv("bob", "s3:cr@t", "h", 990));
        assert_eq!(p("u:@h"), srv("u", "", "h", 21));
        assert_eq!(
            p("[fd77::1]:2121"),
            srv("anonymous", "monban@", "fd77::1", 2121)
        );
        assert_eq!(p("[fd77::1]"), srv("anonymous", "monban@", "fd77::1", 21));
        assert_eq!(p("u:p@fd77::1"), srv("u", "p", "fd77::1", 21));
        let bad = |s: &str, why| {
            Err(BounceError::BadSpec {
                spec: s.to_owned(),
                why,
            })
        };
        assert_eq!(p(""), bad("", "no server"));
        assert_eq!(p("u:p@"), bad("u:p@", "no server"));
        assert_eq!(p(":p@h"), bad(":p@h", "empty user name"));
        assert_eq!(p("h:0"), bad("h:0", "the port must be 1 to 65535"));
        assert_eq!(p("h:65536"), bad("h:65536", "the port must be 1 to 65535"));
        assert_eq!(p("h:ftp"), bad("h:ftp", "the port must be 1 to 65535"));
        assert_eq!(p("[::1"), bad("[::1", "missing ] after an IPv6 address"));
        assert_eq!(p("[::1]x"), bad("[::1]x", "only :port may follow ]"));
        assert_eq!(
            p("u:a\rb@h"),
            Err(BounceError::BadCredential { what: "password" })
        );
    }
}
