//! The HTML of the page: written here, compiled in, no asset from elsewhere.
//!
//! Everything that comes from a scan (banners, versions, service names) or from the
//! visitor is hostile text and goes through [`esc`]; the page's script writes only with
//! `textContent`. The results work without JavaScript (the running page refreshes itself
//! through `<noscript>`); with it, progress arrives live over server-sent events.

use std::fmt::Write as _;
use std::net::IpAddr;

use crate::scan::{Phase, Row, ScanState};

/// HTML-escapes text for element content and quoted attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' && c != '\t' => {
                let _ = write!(out, "\\x{:02x}", u32::from(c));
            }
            // A right-to-left override would make a row lie about what follows it.
            c if monban_output::is_bidi_control(c) => {
                let _ = write!(out, "\\u{{{:04x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str =
    "body{font-family:sans-serif;max-width:60em;margin:2em auto;padding:0 1em;color:#222}\
h1{font-size:1.6em}table{border-collapse:collapse;width:100%}\
td,th{border-bottom:1px solid #ccc;padding:.3em .5em;text-align:left;vertical-align:top}\
.OPEN{color:#fff;background:#c0392b;font-weight:bold}.CLOSED{color:#555}.BLOCKED{color:#1e7e34}\
.profiles form{display:inline-block;width:18em;margin:0 1em 1em 0;vertical-align:top}\
.profiles button{font-size:1.1em;padding:.4em 1em}.note{color:#555;font-size:.9em}\
.verdict{font-size:1.2em;font-weight:bold}.error{color:#c0392b}progress{width:100%}";

/// The page frame.
fn frame(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\">\
         <title>{}</title><style>{STYLE}</style></head>\n<body>\n{body}\n</body></html>\n",
        esc(title)
    )
}

/// One profile button.
pub struct ProfileButton<'a> {
    /// Its name (`quick`).
    pub name: &'a str,
    /// What it does, one sentence.
    pub about: &'a str,
}

/// A line of the visitor's history.
pub struct PastScan {
    /// Its id in the database.
    pub id: i64,
    /// When, as text.
    pub when: String,
    /// Its profile or command line, short.
    pub what: String,
    /// Open ports found.
    pub open: u64,
}

const START_SCRIPT: &str = "<script>\
document.querySelectorAll('form.start').forEach(function(f){f.addEventListener('submit',function(e){\
e.preventDefault();var b=f.querySelector('button');b.disabled=true;\
fetch('/api/scans',{method:'POST',headers:{'Content-Type':'application/json','X-CSRF-Token':f.csrf.value},\
body:JSON.stringify({profile:f.profile.value})}).then(function(r){return r.json().then(function(j){return [r,j];});})\
.then(function(p){if(p[0].ok){location.href=p[1].url;}else{b.disabled=false;\
var m=document.getElementById('message');m.textContent=p[1].error||('HTTP '+p[0].status);}})\
.catch(function(){b.disabled=false;});});});\
</script>";

/// The start page: the visitor's address, a button per profile, their history.
pub fn index(
    visitor: IpAddr,
    refused: Option<&str>,
    csrf: &str,
    profiles: &[ProfileButton<'_>],
    history: &[PastScan],
) -> String {
    let mut b = String::new();
    let _ = writeln!(
        b,
        "<h1>monban self-scan</h1>\n<p>Your address is <b id=\"visitor\">{}</b>. A scan from this \
         page probes that address only: yours, as this server sees it.</p>",
        esc(&visitor.to_string())
    );
    match refused {
        Some(why) => {
            let _ = writeln!(
                b,
                "<p class=\"error\" id=\"refused\">This server will not scan {}: {}.</p>",
                esc(&visitor.to_string()),
                esc(why)
            );
        }
        None => {
            b.push_str("<div class=\"profiles\">\n");
            for p in profiles {
                let _ = writeln!(
                    b,
                    "<form class=\"start\" method=\"post\" action=\"/scans\">\
                     <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
                     <input type=\"hidden\" name=\"profile\" value=\"{}\">\
                     <button type=\"submit\" id=\"start-{}\">{}</button>\
                     <p class=\"note\">{}</p></form>",
                    esc(csrf),
                    esc(p.name),
                    esc(p.name),
                    esc(p.name),
                    esc(p.about)
                );
            }
            b.push_str("</div>\n<p id=\"message\" class=\"error\"></p>\n");
        }
    }
    b.push_str(
        "<p class=\"note\">OPEN ports are doors anyone can knock on: close every one that \
         needs no opening. CLOSED ports answer that nothing is there; BLOCKED ports do not \
         answer at all (a firewall drops the probes), which tells a scanner the least.</p>\n",
    );
    if !history.is_empty() {
        b.push_str("<h2>Your previous scans</h2>\n<ul id=\"history\">\n");
        for h in history {
            let _ = writeln!(
                b,
                "<li><a href=\"/history/{}\">{}</a>: {} ({} open)</li>",
                h.id,
                esc(&h.when),
                esc(&h.what),
                h.open
            );
        }
        b.push_str("</ul>\n");
    }
    if refused.is_none() {
        b.push_str(START_SCRIPT);
    }
    frame("monban self-scan", &b)
}

/// The result table.
pub fn table(rows: &[Row]) -> String {
    let mut b = String::from(
        "<table id=\"results\"><thead><tr><th>Port</th><th>Service</th><th>Status</th>\
         <th>Reason</th><th>Version</th><th>Risk and advice</th></tr></thead><tbody>\n",
    );
    for r in rows {
        let risk = r
            .risk
            .as_ref()
            .map_or_else(String::new, |(level, why, advice)| {
                format!("<b>{}</b>: {} {}", esc(level), esc(why), esc(advice))
            });
        let _ = writeln!(
            b,
            "<tr id=\"port-{}-{}\"><td>{}/{}</td><td>{}</td><td class=\"status {}\">{}</td>\
             <td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&r.proto),
            r.port,
            r.port,
            esc(&r.proto),
            esc(r.service.as_deref().unwrap_or("")),
            r.status(),
            r.status(),
            esc(&r.reason),
            esc(r.version.as_deref().unwrap_or("")),
            risk
        );
    }
    b.push_str("</tbody></table>\n");
    b
}

const LIVE_SCRIPT: &str = "<script>\
(function(){var id=document.body.getAttribute('data-scan');var es=new EventSource('/api/scans/'+id+'/events');\
var bar=document.getElementById('progress'),txt=document.getElementById('progress-text'),\
open=document.getElementById('open-so-far');\
es.addEventListener('progress',function(e){var d=JSON.parse(e.data);bar.max=d.total;bar.value=d.done;\
txt.textContent=d.done+' of '+d.total+' ports'+(d.eta!=null?', about '+Math.ceil(d.eta)+' s left':'');});\
es.addEventListener('open',function(e){var d=JSON.parse(e.data);var li=document.createElement('li');\
li.textContent=d.port+'/'+d.proto+' OPEN';open.appendChild(li);});\
es.addEventListener('done',function(){es.close();location.reload();});})();\
</script>";

/// A scan's page: progress while it runs, the table and verdict once done, the changes
/// since the visitor's previous scan.
pub fn scan(s: &ScanState, changes: Option<&str>) -> String {
    let mut b = String::new();
    let _ = writeln!(
        b,
        "<h1>{} scan of {}</h1>\n<p><a href=\"/\">Back</a></p>",
        esc(&s.profile),
        esc(&s.visitor.to_string())
    );
    match &s.phase {
        Phase::Running => {
            let (done, total) = s.progress.map_or((0, 0), |(d, t, _)| (d, t));
            let _ = write!(
                b,
                "<p id=\"phase\">Scanning…</p><progress id=\"progress\" value=\"{done}\" max=\"{}\"></progress>\
                 <p id=\"progress-text\">{done} of {total} ports</p><ul id=\"open-so-far\">",
                total.max(1)
            );
            for (proto, port) in &s.open_so_far {
                let _ = write!(b, "<li>{port}/{} OPEN</li>", esc(proto));
            }
            b.push_str("</ul>\n<noscript><meta http-equiv=\"refresh\" content=\"2\"></noscript>\n");
            b.push_str(LIVE_SCRIPT);
        }
        Phase::Failed(why) => {
            let _ = writeln!(
                b,
                "<p id=\"phase\" class=\"error\">The scan failed: {}</p>",
                esc(why)
            );
        }
        Phase::Done => {
            b.push_str("<p id=\"phase\">Done.</p>\n");
            if s.host.as_deref() == Some("up") && s.rows.is_empty() {
                b.push_str(
                    "<p class=\"verdict\" id=\"verdict\">Your host answered: it is up.</p>\n",
                );
            }
            if s.host.as_deref() == Some("down") {
                b.push_str(
                    "<p class=\"verdict\" id=\"verdict\">Your host did not answer at all: \
                     every probe went unanswered (stealth).</p>\n",
                );
            }
            if let Some((verdict, advice)) = &s.verdict {
                let _ = writeln!(
                    b,
                    "<p class=\"verdict\" id=\"verdict\">Verdict: {}</p>",
                    esc(verdict)
                );
                for a in advice {
                    let _ = writeln!(b, "<p class=\"note\">{}</p>", esc(a));
                }
            }
            b.push_str(&table(&s.rows));
            if let Some(c) = changes {
                b.push_str(c);
            }
        }
    }
    // The live script finds the scan's id on <body>.
    frame(&format!("monban {} scan", s.profile), &b).replacen(
        "<body>",
        &format!("<body data-scan=\"{}\">", esc(&s.id)),
        1,
    )
}

/// What changed since the previous scan, as a list; `None` when nothing did.
pub fn changes(when: &str, lines: &[(String, String)]) -> String {
    let mut b = format!(
        "<h2>Since your previous scan ({})</h2>\n<ul id=\"changes\">\n",
        esc(when)
    );
    if lines.is_empty() {
        b.push_str("<li>nothing changed</li>\n");
    }
    for (what, detail) in lines {
        let _ = writeln!(b, "<li><b>{}</b> {}</li>", esc(what), esc(detail));
    }
    b.push_str("</ul>\n");
    b
}

/// A stored scan of the visitor's history.
pub fn stored(title: &str, rows: &[Row]) -> String {
    frame(
        title,
        &format!(
            "<h1>{}</h1>\n<p><a href=\"/\">Back</a></p>\n{}",
            esc(title),
            table(rows)
        ),
    )
}

/// A page that says no.
pub fn message(title: &str, text: &str) -> String {
    frame(
        title,
        &format!(
            "<h1>{}</h1>\n<p class=\"error\" id=\"message\">{}</p>\n<p><a href=\"/\">Back</a></p>",
            esc(title),
            esc(text)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn evil() -> Row {
        Row {
            port: 25,
            proto: "tcp".into(),
            state: "open".into(),
            reason: "syn-ack".into(),
            service: Some("smtp\"><img src=x onerror=alert(1)>".into()),
            version: Some("<script>alert(1)</script>\u{1b}[31m".into()),
            risk: Some(("high".into(), "<b>why</b>".into(), "'advice'".into())),
        }
    }

    #[test]
    fn hostile_banners_are_text() {
        let t = table(&[evil()]);
        assert!(
            !t.contains("<script>") && !t.contains("<img") && !t.contains("<b>why"),
            "{t}"
        );
        assert!(
            t.contains("&lt;script&gt;alert(1)&lt;/script&gt;\\x1b[31m"),
            "{t}"
        );
        assert!(
            t.contains("smtp&quot;&gt;&lt;img src=x onerror=alert(1)&gt;"),
            "{t}"
        );
        assert!(t.contains("class=\"status OPEN\""), "{t}");
        assert_eq!(esc("a\u{202e}b\u{2066}c"), "a\\u{202e}b\\u{2066}c");
        let mut s = ScanState::new("a\"b".into(), 1, "10.0.0.1".parse().unwrap(), "quick<x>");
        s.phase = Phase::Done;
        s.rows = vec![evil()];
        let page = scan(&s, None);
        assert!(
            !page.contains("<x>") && !page.contains("a\"b") && !page.contains("<img"),
            "{page}"
        );
        assert_eq!(
            page.matches("<script>").count(),
            0,
            "a finished scan needs no script"
        );
    }

    #[test]
    fn index_and_refusal() {
        let profiles = [ProfileButton {
            name: "quick",
            about: "37 <ports>",
        }];
        let page = index("10.0.0.1".parse().unwrap(), None, "tok", &profiles, &[]);
        assert!(page.contains("id=\"start-quick\"") && page.contains("value=\"tok\""));
        assert!(page.contains("37 &lt;ports&gt;"));
        let page = index(
            "127.0.0.1".parse().unwrap(),
            Some("loopback"),
            "tok",
            &profiles,
            &[],
        );
        assert!(page.contains("id=\"refused\"") && !page.contains("start-quick"));
    }
}
