//! The Debian package owning a file, read from dpkg's database (dpkg itself is never run).
//!
//! dpkg keeps, for every installed package, `/var/lib/dpkg/info/PACKAGE.list` (or
//! `PACKAGE:ARCH.list` for a multi-arch package): the absolute path of every file and
//! directory the package installed, one per line, as they were in the package, so not
//! resolved through symlinks. On a merged-/usr system `/bin`, `/sbin`, `/lib*` are links into
//! `/usr`, so an executable the kernel names `/usr/bin/foo` may be listed as `/bin/foo` and
//! the other way round; both spellings are looked up, an exact one winning.
//!
//! Directories are listed by every package that ships something in them; for files, a path
//! listed by several packages goes to the first package in file-name order. Diversions
//! (`/var/lib/dpkg/diversions`) are not read.

use std::collections::{HashMap, HashSet};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// dpkg's package information directory.
pub const INFO_DIR: &str = "/var/lib/dpkg/info";

/// Top directories that merged /usr links into `/usr`.
const MERGED: [&[u8]; 6] = [b"bin", b"sbin", b"lib", b"lib32", b"lib64", b"libx32"];

/// The package owning each of `paths` that some `*.list` file of `info_dir` lists, by package
/// name without `:ARCH`. Paths no package lists, relative paths, and paths ending in
/// ` (deleted)` (a replaced executable, as `/proc/PID/exe` shows it) are left out; a missing
/// or unreadable directory gives an empty map.
///
/// Each list file is read once; only lines as long as an asked spelling are looked up.
pub fn owners(info_dir: &Path, paths: &[PathBuf]) -> HashMap<PathBuf, String> {
    // Every spelling to look for → (index into `paths`, whether it is the exact one).
    let mut wanted: HashMap<Vec<u8>, Vec<(usize, bool)>> = HashMap::new();
    for (i, path) in paths.iter().enumerate() {
        let bytes = path.as_os_str().as_bytes();
        if !bytes.starts_with(b"/") || bytes.ends_with(b" (deleted)") {
            continue;
        }
        wanted.entry(bytes.to_vec()).or_default().push((i, true));
        if let Some(other) = merged_twin(bytes) {
            wanted.entry(other).or_default().push((i, false));
        }
    }
    if wanted.is_empty() {
        return HashMap::new();
    }
    let lengths: HashSet<usize> = wanted.keys().map(Vec::len).collect();

    let mut found: Vec<Option<(bool, String)>> = vec![None; paths.len()];
    for (package, file) in list_files(info_dir) {
        let Ok(data) = std::fs::read(&file) else {
            continue;
        };
        for line in data.split(|&b| b == b'\n') {
            if !lengths.contains(&line.len()) {
                continue;
            }
            for &(i, exact) in wanted.get(line).into_iter().flatten() {
                if let Some(slot) = found.get_mut(i) {
                    let better = match slot {
                        None => true,
                        Some((was_exact, _)) => exact && !*was_exact,
                    };
                    if better {
                        *slot = Some((exact, package.clone()));
                    }
                }
            }
        }
    }
    paths
        .iter()
        .zip(found)
        .filter_map(|(path, hit)| Some((path.clone(), hit?.1)))
        .collect()
}

/// `(package, path)` of each `*.list` file of `dir`, sorted by file name.
fn list_files(dir: &Path) -> Vec<(String, PathBuf)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<_> = entries
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let stem = name.strip_suffix(".list")?;
            let package = stem
                .split(':')
                .next()
                .filter(|p| !p.is_empty())?
                .to_string();
            Some((name, package, entry.path()))
        })
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|(_, package, path)| (package, path))
        .collect()
}

/// The other spelling of a path under merged /usr: `/usr/bin/x` ↔ `/bin/x`, likewise for
/// `sbin` and the `lib` directories.
fn merged_twin(path: &[u8]) -> Option<Vec<u8>> {
    let (usr, rest) = match path.strip_prefix(b"/usr") {
        Some(rest) => (true, rest),
        None => (false, path),
    };
    let top = rest.strip_prefix(b"/")?.split(|&b| b == b'/').next()?;
    if !MERGED.contains(&top) || rest.len() <= top.len() + 2 {
        return None;
    }
    Some(match usr {
        true => rest.to_vec(),
        false => [&b"/usr"[..], rest].concat(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;
    use std::time::{Duration, Instant};

    fn asked(paths: &[&str]) -> Vec<PathBuf> {
        paths.iter().map(PathBuf::from).collect()
    }

    fn get<'a>(map: &'a HashMap<PathBuf, String>, path: &str) -> Option<&'a str> {
        map.get(Path::new(path)).map(String::as_str)
    }

    #[test]
    fn fixture() {
        let dir = std::env::temp_dir().join(format!("monban-dpkg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let write = |name: &str, text: &[u8]| std::fs::write(dir.join(name), text).unwrap();
        write(
            "a.list",
            b"/.\n/usr\n/usr/bin\n/usr/bin/foo\n/bin/legacy\n/usr/bin/sh\n",
        );
        write(
            "b:amd64.list",
            b"/usr\n/usr/lib/x86_64-linux-gnu/libb.so.1\n/usr/sbin/bar\n",
        );
        write(
            "c.list",
            b"/usr/bin/foo\n/usr/bin/legacy\n/bin/sh\n/opt/odd\xff\n",
        );
        write("d.md5sums", b"0123  /usr/bin/secret\n/usr/bin/secret\n");
        write(":arch.list", b"/usr/bin/nameless\n");
        std::fs::create_dir(dir.join("e.list")).unwrap();
        let mut paths = asked(&[
            "/usr/bin/foo",
            "/usr/bin/foo (deleted)",
            "/sbin/bar",
            "/usr/lib/x86_64-linux-gnu/libb.so.1",
            "/lib/x86_64-linux-gnu/libb.so.1",
            "/usr/bin/legacy",
            "/bin/legacy",
            "/bin/sh",
            "/usr/bin",
            "/usr/bin/secret",
            "/usr/bin/nameless",
            "/nope",
            "/bin",
            "",
        ]);
        paths.push(PathBuf::from(OsStr::from_bytes(b"/opt/odd\xff")));
        let map = owners(&dir, &paths);
        std::fs::remove_dir_all(&dir).unwrap();

        assert_eq!(
            get(&map, "/usr/bin/foo"),
            Some("a"),
            "first in file-name order"
        );
        assert_eq!(get(&map, "/sbin/bar"), Some("b"), "merged /usr, no :arch");
        assert_eq!(get(&map, "/usr/lib/x86_64-linux-gnu/libb.so.1"), Some("b"));
        assert_eq!(get(&map, "/lib/x86_64-linux-gnu/libb.so.1"), Some("b"));
        assert_eq!(
            get(&map, "/usr/bin/legacy"),
            Some("c"),
            "exact beats the twin"
        );
        assert_eq!(get(&map, "/bin/legacy"), Some("a"));
        assert_eq!(get(&map, "/bin/sh"), Some("c"));
        assert_eq!(get(&map, "/usr/bin"), Some("a"));
        assert_eq!(map.get(&paths[14]).map(String::as_str), Some("c"));
        assert_eq!(map.len(), 9, "{map:?}");
        assert_eq!(owners(&dir, &paths), HashMap::new(), "missing dir");
    }

    #[test]
    fn twins() {
        let twin = |p: &str| merged_twin(p.as_bytes()).map(|t| String::from_utf8(t).unwrap());
        assert_eq!(twin("/usr/bin/x").as_deref(), Some("/bin/x"));
        assert_eq!(twin("/lib64/ld.so").as_deref(), Some("/usr/lib64/ld.so"));
        assert_eq!(twin("/usr/share/x"), None);
        assert_eq!(twin("/usr/bin"), None);
        assert_eq!(twin("/usr/bin/"), None);
        assert_eq!(twin("/binx/y"), None);
        assert_eq!(twin("/usr"), None);
        assert_eq!(twin(""), None);
        assert_eq!(twin("usr/bin/x"), None);
    }

    #[test]
    fn real_database() {
        let list = Path::new(INFO_DIR).join("dash.list");
        let start = Instant::now();
        let map = owners(Path::new(INFO_DIR), &asked(&["/usr/bin/dash"]));
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{:?}",
            start.elapsed()
        );
        if list.exists() {
            assert_eq!(get(&map, "/usr/bin/dash"), Some("dash"));
        } else {
            assert_eq!(get(&map, "/usr/bin/dash"), None);
        }
        assert!(owners(Path::new(INFO_DIR), &[]).is_empty());
    }
}
