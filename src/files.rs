//! Whole-file reads with a bound: every file monban reads at once (target lists, scan files
//! to resume, compare or join) goes through [`read_bounded`], so `/dev/zero`, an endless
//! pipe or a huge file is a clear error instead of all of memory.

use std::io::{self, Read};
use std::path::Path;

/// Most bytes of a file read whole: a target list (`-iL`), a scan output to resume, to
/// `diff`, or to join with `monban local --against`. A full-range scan of a /16 fits many
/// times; so do tens of millions of target lines.
pub(crate) const MAX_INPUT_FILE: u64 = 1 << 30;

/// Reads up to `limit` bytes of `path` (`-` = stdin). A device or a pipe has no size to
/// check beforehand, so the read itself is bounded; a directory is refused before reading.
pub(crate) fn read_bounded(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    let too_big = || {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("larger than {} MiB, the most monban reads", limit >> 20),
        )
    };
    let mut bytes = Vec::new();
    if path.as_os_str() == "-" {
        io::stdin().lock().take(limit + 1).read_to_end(&mut bytes)?;
    } else {
        let file = std::fs::File::open(path)?;
        let meta = file.metadata()?;
        if meta.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "is a directory",
            ));
        }
        if meta.len() > limit {
            return Err(too_big());
        }
        file.take(limit + 1).read_to_end(&mut bytes)?;
    }
    if bytes.len() as u64 > limit {
        return Err(too_big());
    }
    Ok(bytes)
}

/// [`read_bounded`] as UTF-8 text.
pub(crate) fn read_text(path: &Path, limit: u64) -> io::Result<String> {
    String::from_utf8(read_bounded(path, limit)?)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "not UTF-8 text"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_reads() {
        let dir = std::env::temp_dir().join(format!("monban-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let small = dir.join("small");
        std::fs::write(&small, "10.0.0.1\n").unwrap();
        assert_eq!(read_text(&small, 64).unwrap(), "10.0.0.1\n");
        let big = dir.join("big");
        std::fs::write(&big, vec![b'1'; 65]).unwrap();
        assert!(read_bounded(&big, 64)
            .unwrap_err()
            .to_string()
            .contains("larger than"));
        let bad = dir.join("bad");
        std::fs::write(&bad, b"\xff\xfe").unwrap();
        assert_eq!(
            read_text(&bad, 64).unwrap_err().to_string(),
            "not UTF-8 text"
        );
        assert_eq!(
            read_bounded(&dir, 64).unwrap_err().to_string(),
            "is a directory"
        );
        // A device without a size: the read itself stops at the bound.
        let zero = read_bounded(Path::new("/dev/zero"), 1 << 20).unwrap_err();
        assert!(zero.to_string().contains("larger than 1 MiB"), "{zero}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
