//! Forms and API calls that start scans must come from this server's own page.
//!
//! The page sets a random token in a `SameSite=Strict` cookie and puts the same token in
//! its forms (and the page's script sends it in a header). A POST is accepted only when
//! both are present and equal, and, when the browser names the request's origin
//! (`Origin`, else `Referer`), when that is this server. Another site can make a browser
//! send the request, but can neither read the cookie nor set it.

/// 32 random bytes as hex, from the kernel.
pub fn token() -> String {
    let mut buf = [0u8; 32];
    let mut filled = 0;
    while filled < buf.len() {
        // SAFETY: getrandom(2) writes at most the given length into the buffer.
        let n =
            unsafe { libc::getrandom(buf[filled..].as_mut_ptr().cast(), buf.len() - filled, 0) };
        if n > 0 {
            filled += n as usize;
        }
    }
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// Equal, in time that does not depend on where they differ.
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The cookie's name.
const COOKIE: &str = "monban_csrf";

/// The token in a `Cookie` header.
pub fn from_cookie(header: &str) -> Option<&str> {
    header
        .split(';')
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v)
        .filter(|v| v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The `Set-Cookie` value carrying `token`: `SameSite=Strict` and `HttpOnly` always, and
/// `Secure` when the visitor's browser talks HTTPS (to a trusted proxy in front of us), so
/// the browser never sends it over plain HTTP.
pub fn set_cookie(token: &str, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{COOKIE}={token}; Path=/; SameSite=Strict; HttpOnly{secure}")
}

/// Whether a request may change state: cookie and form (or header) tokens equal, and the
/// origin, when named, is `host` (the `Host` header the request itself carried).
pub fn allowed(
    cookie: Option<&str>,
    given: Option<&str>,
    origin: Option<&str>,
    host: Option<&str>,
) -> bool {
    let (Some(c), Some(g)) = (cookie.and_then(from_cookie), given) else {
        return false;
    };
    if !same(c, g) {
        return false;
    }
    match (origin, host) {
        (None, _) => true,
        (Some(o), Some(h)) => {
            let o = o.trim_end_matches('/');
            let rest = o
                .strip_prefix("http://")
                .or_else(|| o.strip_prefix("https://"))
                .unwrap_or("");
            // A Referer carries a path: compare its authority only.
            rest.split('/').next() == Some(h)
        }
        (Some(_), None) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_and_checks() {
        let t = token();
        assert_eq!(t.len(), 64);
        assert_ne!(t, token());
        let cookie = format!("a=b; monban_csrf={t}");
        let set = set_cookie(&t, false);
        assert_eq!(
            from_cookie(set.split(';').next().unwrap()),
            Some(t.as_str())
        );
        assert!(set.contains("SameSite=Strict") && set.contains("HttpOnly"));
        assert!(!set.contains("Secure"));
        assert!(set_cookie(&t, true).ends_with("; Secure"));
        let host = Some("10.77.0.2:8080");
        assert!(allowed(Some(&cookie), Some(&t), None, host));
        assert!(allowed(
            Some(&cookie),
            Some(&t),
            Some("http://10.77.0.2:8080"),
            host
        ));
        assert!(allowed(
            Some(&cookie),
            Some(&t),
            Some("http://10.77.0.2:8080/scans/1"),
            host
        ));
        assert!(!allowed(
            Some(&cookie),
            Some(&t),
            Some("http://evil.example"),
            host
        ));
        assert!(!allowed(
            Some(&cookie),
            Some(&t),
            Some("http://10.77.0.2:8080.evil.example"),
            host
        ));
        assert!(!allowed(Some(&cookie), None, None, host));
        assert!(!allowed(None, Some(&t), None, host));
        assert!(!allowed(Some(&cookie), Some(&token()), None, host));
        assert!(!allowed(
            Some("monban_csrf=short"),
            Some("short"),
            None,
            host
        ));
        assert!(same("abc", "abc") && !same("abc", "abd") && !same("abc", "ab"));
    }
}
