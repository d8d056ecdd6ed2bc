//! The web server: routes, the scans it runs, their live events.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use monban_detect::Net;
use monban_store::Store;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::sync::broadcast;

use crate::limits::{Limits, Refused};
use crate::scan::{Phase, Row, ScanState};
use crate::{csrf, page, visitor, ServeError};

/// A scan profile as the page offers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// Its name (`quick`), the button's label.
    pub name: String,
    /// One sentence on what it does.
    pub about: String,
    /// The `monban scan` arguments that make it (`--profile quick --audit`; `--audit`
    /// gives the page its verdict).
    pub args: Vec<String>,
}

/// How the server runs.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where it listens.
    pub listen: SocketAddr,
    /// The history database (a file or a `postgres://` URL).
    pub db: String,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trust_proxy: Vec<Net>,
    /// Scans per visitor per hour.
    pub per_hour: usize,
    /// Scans running at once, all visitors together.
    pub max_running: usize,
    /// The `monban` binary that runs the scans.
    pub monban: PathBuf,
    /// The profiles offered.
    pub profiles: Vec<Profile>,
    /// A scan running longer than this is ended.
    pub scan_timeout: Duration,
}

/// A scan's state and the sender of its live events.
type Handle = (Arc<Mutex<ScanState>>, broadcast::Sender<(String, String)>);

struct Live {
    state: Arc<Mutex<ScanState>>,
    events: broadcast::Sender<(String, String)>,
    ended: Option<Instant>,
}

struct App {
    cfg: Config,
    own: Vec<IpAddr>,
    local_ok: bool,
    scans: Mutex<HashMap<String, Live>>,
    limits: Mutex<Limits>,
    seq: AtomicU64,
    store: Arc<Mutex<Store>>,
}

type Shared = Arc<App>;

/// Runs the server until SIGINT or SIGTERM; `ready` is told the bound address.
pub fn run(cfg: Config, ready: impl FnOnce(SocketAddr)) -> Result<(), ServeError> {
    let store = Store::open(&cfg.db).map_err(|e| ServeError::Store(e.to_string()))?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| ServeError::Io(e.to_string()))?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(cfg.listen)
            .await
            .map_err(|e| ServeError::Bind(cfg.listen, e.to_string()))?;
        let bound = listener
            .local_addr()
            .map_err(|e| ServeError::Io(e.to_string()))?;
        let app = Arc::new(App {
            own: monban_local::ns::addresses()
                .into_iter()
                .map(|(_, a)| a)
                .collect(),
            local_ok: cfg.listen.ip().is_loopback(),
            limits: Mutex::new(Limits::new(cfg.per_hour, cfg.max_running)),
            scans: Mutex::new(HashMap::new()),
            seq: AtomicU64::new(1),
            store: Arc::new(Mutex::new(store)),
            cfg,
        });
        tokio::spawn(sweeper(Arc::clone(&app)));
        let router = Router::new()
            .route("/", get(index))
            .route("/scans", post(start_form))
            .route("/scans/{id}", get(scan_page))
            .route("/history/{id}", get(history_page))
            .route("/api/scans", post(start_api))
            .route("/api/scans/{id}", get(scan_json))
            .route("/api/scans/{id}/events", get(scan_events))
            .with_state(Arc::clone(&app));
        ready(bound);
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown())
        .await
        .map_err(|e| ServeError::Io(e.to_string()))
    })
}

async fn shutdown() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = term => {},
    }
}

/// Forgets finished scans after an hour and idle visitors' counts (bounded memory).
async fn sweeper(app: Shared) {
    loop {
        tokio::time::sleep(Duration::from_secs(60)).await;
        let now = Instant::now();
        if let Ok(mut scans) = app.scans.lock() {
            scans.retain(|_, l| {
                l.ended
                    .is_none_or(|t| now.duration_since(t) < Duration::from_secs(3600))
            });
        }
        if let Ok(mut l) = app.limits.lock() {
            l.sweep(now);
        }
    }
}

/// The visitor of a request (see [`visitor::visitor`]): the handlers' first argument.
struct Visit(IpAddr);

impl axum::extract::FromRequestParts<Shared> for Visit {
    type Rejection = Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        app: &Shared,
    ) -> Result<Visit, Infallible> {
        // Served with connect info, so the peer is always there; the unspecified address
        // (refused by every rule) stands in if it ever is not.
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(SocketAddr::from(([0, 0, 0, 0], 0)), |c| c.0);
        Ok(Visit(app.visitor(peer, &parts.headers)))
    }
}

/// The answer to a scan that is not the visitor's (or does not exist): the same.
fn not_yours(api: bool) -> Response {
    if api {
        json_response(
            StatusCode::NOT_FOUND,
            json!({"error": "no such scan of yours"}),
        )
    } else {
        html(
            StatusCode::NOT_FOUND,
            page::message("monban self-scan", "no such scan of yours"),
        )
    }
}

fn header_str(h: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

impl App {
    fn visitor(&self, peer: SocketAddr, h: &HeaderMap) -> IpAddr {
        visitor::visitor(
            peer.ip(),
            header_str(h, header::HeaderName::from_static("x-forwarded-for")),
            &self.cfg.trust_proxy,
        )
    }

    fn csrf_ok(&self, h: &HeaderMap, given: Option<&str>) -> bool {
        let origin = header_str(h, header::ORIGIN).or_else(|| header_str(h, header::REFERER));
        csrf::allowed(
            header_str(h, header::COOKIE),
            given,
            origin,
            header_str(h, header::HOST),
        )
    }

    fn live(&self, id: &str) -> Option<Handle> {
        let scans = self.scans.lock().ok()?;
        scans
            .get(id)
            .map(|l| (Arc::clone(&l.state), l.events.clone()))
    }
}

/// A refusal to start a scan: status, message, seconds to wait.
struct No(StatusCode, String, Option<u64>);

fn start(app: &Shared, visitor: IpAddr, profile: &str) -> Result<String, No> {
    let Some(p) = app.cfg.profiles.iter().find(|p| p.name == profile).cloned() else {
        return Err(No(
            StatusCode::BAD_REQUEST,
            format!("no profile named {profile:?}"),
            None,
        ));
    };
    if let Some(why) = visitor::refusal(visitor, &app.own, app.local_ok) {
        return Err(No(
            StatusCode::FORBIDDEN,
            format!("this server will not scan {visitor}: {why}"),
            None,
        ));
    }
    let seq = app.seq.fetch_add(1, Ordering::Relaxed);
    let refused = app
        .limits
        .lock()
        .map_err(|_| No(StatusCode::INTERNAL_SERVER_ERROR, "lock".into(), None))?
        .start(visitor, seq, Instant::now());
    match refused {
        Ok(()) => {}
        Err(Refused::Busy) => {
            return Err(No(
                StatusCode::CONFLICT,
                "your previous scan is still running".into(),
                None,
            ))
        }
        Err(Refused::Hourly(wait)) => {
            return Err(No(
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "you have used this hour's scans; try again in {} minutes",
                    wait.as_secs().div_ceil(60)
                ),
                Some(wait.as_secs().max(1)),
            ))
        }
        Err(Refused::Full) => {
            return Err(No(
                StatusCode::SERVICE_UNAVAILABLE,
                "the server is busy with other scans; try again in a minute".into(),
                Some(60),
            ))
        }
    }
    let id = csrf::token()[..32].to_string();
    let state = Arc::new(Mutex::new(ScanState::new(
        id.clone(),
        seq,
        visitor,
        &p.name,
    )));
    let (events, _) = broadcast::channel(256);
    if let Ok(mut scans) = app.scans.lock() {
        scans.insert(
            id.clone(),
            Live {
                state: Arc::clone(&state),
                events: events.clone(),
                ended: None,
            },
        );
    }
    tokio::spawn(run_scan(Arc::clone(app), id.clone(), p, state, events));
    Ok(id)
}

/// Runs one scan as a child process and feeds its lines to the state and the viewers.
async fn run_scan(
    app: Shared,
    id: String,
    profile: Profile,
    state: Arc<Mutex<ScanState>>,
    events: broadcast::Sender<(String, String)>,
) {
    let (visitor, seq) = state
        .lock()
        .map(|s| (s.visitor, s.seq))
        .unwrap_or((IpAddr::from([0, 0, 0, 0]), 0));
    let mut cmd = tokio::process::Command::new(&app.cfg.monban);
    cmd.arg("scan")
        .args(&profile.args)
        .args(["-n", "--no-progress", "--stats-every", "500ms", "-oJ", "-"])
        .arg(format!("--db={}", app.cfg.db))
        .arg(visitor.to_string())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let outcome: Result<(), String> = async {
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot start monban: {e}"))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut stderr = child.stderr.take().ok_or("no stderr")?;
        let errors = tokio::spawn(async move {
            let mut buf = Vec::new();
            let _ = (&mut stderr).take(64 * 1024).read_to_end(&mut buf).await;
            String::from_utf8_lossy(&buf).into_owned()
        });
        let mut lines = BufReader::new(stdout).lines();
        let read = async {
            while let Ok(Some(line)) = lines.next_line().await {
                let ev = state.lock().ok().and_then(|mut s| s.feed(&line));
                if let Some(ev) = ev {
                    let kind = ev
                        .get("type")
                        .and_then(Value::as_str)
                        .unwrap_or("event")
                        .to_string();
                    let _ = events.send((kind, ev.to_string()));
                }
            }
        };
        if tokio::time::timeout(app.cfg.scan_timeout, read)
            .await
            .is_err()
        {
            let _ = child.kill().await;
            return Err(format!(
                "the scan ran longer than {} s and was ended",
                app.cfg.scan_timeout.as_secs()
            ));
        }
        let status = child.wait().await.map_err(|e| e.to_string())?;
        let errors = errors.await.unwrap_or_default();
        if !status.success() {
            let last = errors
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("no message");
            return Err(format!("monban scan ended with {status}: {last}"));
        }
        Ok(())
    }
    .await;
    // The child stored the scan: it is the newest of this visitor's.
    let stored = visitor_history(&app, visitor).await.first().map(|s| s.id);
    if let Ok(mut s) = state.lock() {
        s.phase = match outcome {
            Ok(()) if s.host.is_some() => Phase::Done,
            Ok(()) => Phase::Failed("the scan gave no result".into()),
            Err(e) => Phase::Failed(e),
        };
        s.stored = stored;
    }
    if let Ok(mut l) = app.limits.lock() {
        l.finish(visitor, seq);
    }
    if let Ok(mut scans) = app.scans.lock() {
        if let Some(l) = scans.get_mut(&id) {
            l.ended = Some(Instant::now());
        }
    }
    let _ = events.send(("done".into(), "{}".into()));
}

/// The stored scans of `visitor`, newest first (none when the database cannot answer).
async fn visitor_history(app: &Shared, visitor: IpAddr) -> Vec<monban_store::ScanSummary> {
    let store = Arc::clone(&app.store);
    let target = visitor.to_string();
    tokio::task::spawn_blocking(move || {
        store
            .lock()
            .ok()
            .and_then(|mut s| s.history(Some(&target)).ok())
            .unwrap_or_default()
    })
    .await
    .unwrap_or_default()
}

fn html(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response()
}

fn json_response(status: StatusCode, body: Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn refused_response(no: No, api: bool) -> Response {
    let No(status, msg, retry) = no;
    let mut r = if api {
        json_response(status, json!({"error": msg}))
    } else {
        html(status, page::message("monban self-scan", &msg))
    };
    if let Some(secs) = retry {
        if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
    }
    r
}

async fn index(
    State(app): State<Shared>,
    Visit(visitor): Visit,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    h: HeaderMap,
) -> Response {
    let token = header_str(&h, header::COOKIE)
        .and_then(csrf::from_cookie)
        .map_or_else(csrf::token, str::to_string);
    let past = visitor_history(&app, visitor).await;
    let history: Vec<page::PastScan> = past
        .iter()
        .take(20)
        .map(|s| page::PastScan {
            id: s.id,
            when: crate::when(s.started),
            what: profile_of(&s.args),
            open: s.open,
        })
        .collect();
    let profiles: Vec<page::ProfileButton<'_>> = app
        .cfg
        .profiles
        .iter()
        .map(|p| page::ProfileButton {
            name: &p.name,
            about: &p.about,
        })
        .collect();
    let refused = visitor::refusal(visitor, &app.own, app.local_ok);
    let mut r = html(
        StatusCode::OK,
        page::index(visitor, refused, &token, &profiles, &history),
    );
    let https = visitor::forwarded_https(
        peer.ip(),
        header_str(&h, header::HeaderName::from_static("x-forwarded-proto")),
        &app.cfg.trust_proxy,
    );
    if let Ok(v) = HeaderValue::from_str(&csrf::set_cookie(&token, https)) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

/// The profile a stored scan was run with, from its command line.
fn profile_of(args: &str) -> String {
    let mut words = args.split_whitespace();
    while let Some(w) = words.next() {
        if w == "--profile" {
            return words.next().unwrap_or("scan").to_string();
        }
        if w == "-sn" {
            return "icmp".into();
        }
    }
    "scan".into()
}

/// `a=b&c=d`, percent-decoded.
fn form_field(body: &[u8], name: &str) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    text.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == name).then(|| percent_decode(v))
    })
}

fn percent_decode(v: &str) -> String {
    let bytes = v.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match u8::from_str_radix(
                    std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"),
                    16,
                ) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn start_form(
    State(app): State<Shared>,
    Visit(visitor): Visit,
    h: HeaderMap,
    body: Bytes,
) -> Response {
    if body.len() > 4096 {
        return html(
            StatusCode::PAYLOAD_TOO_LARGE,
            page::message("monban self-scan", "request too large"),
        );
    }
    if !app.csrf_ok(&h, form_field(&body, "csrf").as_deref()) {
        return html(
            StatusCode::FORBIDDEN,
            page::message("monban self-scan", "this request did not come from this server's page; open the page and press a button there"),
        );
    }
    let profile = form_field(&body, "profile").unwrap_or_default();
    match start(&app, visitor, &profile) {
        Ok(id) => (
            StatusCode::SEE_OTHER,
            [(header::LOCATION, format!("/scans/{id}"))],
        )
            .into_response(),
        Err(no) => refused_response(no, false),
    }
}

async fn start_api(
    State(app): State<Shared>,
    Visit(visitor): Visit,
    h: HeaderMap,
    body: Bytes,
) -> Response {
    if body.len() > 4096 {
        return json_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            json!({"error": "request too large"}),
        );
    }
    let given = header_str(&h, header::HeaderName::from_static("x-csrf-token"));
    if !app.csrf_ok(&h, given) {
        return json_response(
            StatusCode::FORBIDDEN,
            json!({"error": "missing or wrong CSRF token: send the monban_csrf cookie's value in X-CSRF-Token"}),
        );
    }
    let profile = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v.get("profile").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_default();
    match start(&app, visitor, &profile) {
        Ok(id) => json_response(
            StatusCode::ACCEPTED,
            json!({"id": id, "url": format!("/scans/{id}"), "target": visitor.to_string()}),
        ),
        Err(no) => refused_response(no, true),
    }
}

/// The scan `id` if it is this visitor's.
fn own_scan(app: &App, id: &str, visitor: IpAddr) -> Option<Handle> {
    let (state, tx) = app.live(id)?;
    let mine = state.lock().ok()?.visitor == visitor;
    mine.then_some((state, tx))
}

async fn scan_page(
    State(app): State<Shared>,
    Visit(visitor): Visit,
    Path(id): Path<String>,
) -> Response {
    let Some((state, _)) = own_scan(&app, &id, visitor) else {
        return not_yours(false);
    };
    let snapshot = match state.lock() {
        Ok(s) => s.clone(),
        Err(_) => return html(StatusCode::INTERNAL_SERVER_ERROR, String::new()),
    };
    let changes = match (snapshot.phase == Phase::Done, snapshot.stored) {
        (true, Some(db)) => {
            let store = Arc::clone(&app.store);
            tokio::task::spawn_blocking(move || changes_since_previous(&store, db))
                .await
                .ok()
                .flatten()
        }
        _ => None,
    };
    html(StatusCode::OK, page::scan(&snapshot, changes.as_deref()))
}

/// What changed between the stored scan `db` and the one of the same target before it.
fn changes_since_previous(store: &Mutex<Store>, db: i64) -> Option<String> {
    use monban_output::diff::{diff, PortChange};
    let mut s = store.lock().ok()?;
    let before_id = s.previous(db).ok()??;
    let now = s.load(db).ok()??;
    let before = s.load(before_id).ok()??;
    let d = diff(&before.to_scan_file(), &now.to_scan_file()).states_only();
    let mut lines = Vec::new();
    for h in &d.hosts {
        for p in &h.ports {
            let what = match p.change {
                PortChange::Opened => "opened",
                PortChange::NoLongerOpen => "closed",
                PortChange::State => "changed",
                _ => continue,
            };
            let state = |side: &Option<monban_output::diff::PortSide>| {
                side.as_ref()
                    .map_or("not scanned".to_string(), |s| s.state.as_str().to_string())
            };
            lines.push((
                format!("{}/{} {what}", p.port, p.proto.as_str()),
                format!("({} → {})", state(&p.a), state(&p.b)),
            ));
        }
    }
    Some(page::changes(&crate::when(before.summary.started), &lines))
}

async fn history_page(
    State(app): State<Shared>,
    Visit(visitor): Visit,
    Path(id): Path<i64>,
) -> Response {
    let store = Arc::clone(&app.store);
    let found = tokio::task::spawn_blocking(move || store.lock().ok()?.load(id).ok().flatten())
        .await
        .ok()
        .flatten();
    let Some(scan) = found.filter(|s| s.hosts.iter().any(|h| h.addr == visitor)) else {
        return not_yours(false);
    };
    let rows: Vec<Row> = scan
        .hosts
        .iter()
        .filter(|h| h.addr == visitor)
        .flat_map(crate::scan::rows_of_report)
        .collect();
    let title = format!(
        "{} scan of {} at {}",
        profile_of(&scan.summary.args),
        visitor,
        crate::when(scan.summary.started)
    );
    html(StatusCode::OK, page::stored(&title, &rows))
}

async fn scan_json(
    State(app): State<Shared>,
    Visit(visitor): Visit,
    Path(id): Path<String>,
) -> Response {
    match own_scan(&app, &id, visitor).and_then(|(s, _)| s.lock().ok().map(|s| s.to_json())) {
        Some(j) => json_response(StatusCode::OK, j),
        None => json_response(
            StatusCode::NOT_FOUND,
            json!({"error": "no such scan of yours"}),
        ),
    }
}

async fn scan_events(
    State(app): State<Shared>,
    Visit(visitor): Visit,
    Path(id): Path<String>,
) -> Response {
    let Some((state, tx)) = own_scan(&app, &id, visitor) else {
        return not_yours(true);
    };
    // Subscribe first, then look: an end between the two is still seen.
    let rx = tx.subscribe();
    let (snapshot, running) = match state.lock() {
        Ok(s) => (s.to_json(), s.phase == Phase::Running),
        Err(_) => return json_response(StatusCode::INTERNAL_SERVER_ERROR, json!({})),
    };
    let first = vec![Event::default().event("state").data(snapshot.to_string())];
    let first = if running {
        first
    } else {
        let mut f = first;
        f.push(Event::default().event("done").data("{}"));
        f
    };
    let stream = futures_util::stream::unfold(
        (first.into_iter(), rx, !running),
        |(mut pending, mut rx, mut ended)| async move {
            if let Some(ev) = pending.next() {
                return Some((Ok::<Event, Infallible>(ev), (pending, rx, ended)));
            }
            if ended {
                return None;
            }
            loop {
                match rx.recv().await {
                    Ok((kind, data)) => {
                        ended = kind == "done";
                        let ev = Event::default().event(kind).data(data);
                        return Some((Ok(ev), (pending, rx, ended)));
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        },
    );
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_and_profiles() {
        assert_eq!(
            form_field(b"csrf=ab%20c&profile=quick", "profile").as_deref(),
            Some("quick")
        );
        assert_eq!(
            form_field(b"csrf=ab%20c+d&profile=quick", "csrf").as_deref(),
            Some("ab c d")
        );
        assert_eq!(form_field(b"csrf=%zz%4", "csrf").as_deref(), Some("%zz%4"));
        assert_eq!(form_field(b"\xff\xfe", "csrf"), None);
        assert_eq!(
            profile_of("monban scan --profile quick -n 10.0.0.1"),
            "quick"
        );
        assert_eq!(profile_of("monban scan -sn -PE 10.0.0.1"), "icmp");
    }
}
