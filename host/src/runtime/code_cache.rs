//! The compiled-code cache (`$EDGEINFER_CACHE_DIR`, default `~/.cache/edgeinfer`): `.cwasm`
//! files named by content hash, so a later process maps code instead of compiling it.
//!
//! Every model version packed or served adds an entry, so the folder is bounded: a hit
//! refreshes its entry's mtime, and each new entry evicts the least recently used ones until
//! the folder fits `$EDGEINFER_CACHE_MAX_MIB` (default [`DEFAULT_MAX_MIB`]). Writing is best
//! effort: a full or read-only disk costs a compile, never a failed load.

use std::path::Path;
use std::time::SystemTime;

/// The default bound of the cache: a few dozen large models' code.
pub const DEFAULT_MAX_MIB: u64 = 2048;

/// The bound in bytes: `$EDGEINFER_CACHE_MAX_MIB`, else [`DEFAULT_MAX_MIB`].
pub fn max_bytes() -> u64 {
    let mib = std::env::var("EDGEINFER_CACHE_MAX_MIB")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(DEFAULT_MAX_MIB);
    mib.saturating_mul(1 << 20)
}

/// Marks an entry as just used, so eviction takes others first. Best effort: a read-only
/// cache still serves hits.
pub(crate) fn touch(entry: &Path) {
    if let Ok(file) = std::fs::File::options().write(true).open(entry) {
        let _ = file.set_modified(SystemTime::now());
    }
}

/// Stores `bytes` as `entry` (temp file + rename, so no reader sees half of it), then evicts
/// the least recently used entries beyond [`max_bytes`]. Failures are logged, not returned:
/// the caller already holds the compiled code.
pub(crate) fn store(entry: &Path, bytes: &[u8]) {
    let Some(dir) = entry.parent() else { return };
    let written = std::fs::create_dir_all(dir)
        .map_err(anyhow::Error::from)
        .and_then(|()| crate::pack::write_atomically(entry, bytes));
    if let Err(e) = written {
        tracing::warn!(
            "not caching compiled code in {}: {e:#} (the next start compiles again)",
            dir.display()
        );
        return;
    }
    let max = max_bytes();
    let evicted = evict_to_fit(dir, max, entry);
    if evicted > 0 {
        tracing::info!(
            "compile cache {}: evicted {evicted} least recently used entries to stay under {} MiB \
             (EDGEINFER_CACHE_MAX_MIB)",
            dir.display(),
            max >> 20
        );
    }
}

/// Removes the oldest `.cwasm` entries of `dir` (by mtime) until their total is at most
/// `max`, never `keep`; returns how many it removed. Files of other names are not touched.
/// Another process may be mapping an evicted file: unlinking leaves its mapping valid.
pub(crate) fn evict_to_fit(dir: &Path, max: u64, keep: &Path) -> usize {
    let Ok(read) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut entries: Vec<(SystemTime, u64, std::path::PathBuf)> = read
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".cwasm"))
        .filter_map(|e| {
            let meta = e.metadata().ok().filter(|m| m.is_file())?;
            Some((meta.modified().ok()?, meta.len(), e.path()))
        })
        .collect();
    let mut total: u64 = entries.iter().map(|(_, len, _)| len).sum();
    entries.sort();
    let mut evicted = 0;
    for (_, len, path) in entries {
        if total <= max {
            break;
        }
        if path == keep {
            continue;
        }
        if std::fs::remove_file(&path).is_ok() {
            total -= len;
            evicted += 1;
        }
    }
    evicted
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn entry(dir: &Path, name: &str, age_s: u64) -> std::path::PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, vec![0u8; 1000]).unwrap();
        let file = std::fs::File::options().write(true).open(&path).unwrap();
        file.set_modified(SystemTime::now() - Duration::from_secs(age_s))
            .unwrap();
        path
    }

    #[test]
    fn eviction_takes_the_least_recently_used_and_spares_the_new_entry() {
        let dir = tempfile::tempdir().unwrap();
        let oldest = entry(dir.path(), "a.cwasm", 400);
        let used = entry(dir.path(), "b.cwasm", 300);
        let old = entry(dir.path(), "c.cwasm", 200);
        let other = entry(dir.path(), "notes.txt", 500);
        // The entry being stored may be the oldest by mtime (a slow write): it stays.
        let new = entry(dir.path(), "d.cwasm", 1000);
        touch(&used);

        assert_eq!(evict_to_fit(dir.path(), 2500, &new), 2);
        assert!(!oldest.exists() && !old.exists());
        assert!(
            used.exists() && new.exists(),
            "a hit and the new entry stay"
        );
        assert!(
            other.exists(),
            "files that are not compiled code are left alone"
        );
        assert_eq!(evict_to_fit(dir.path(), 2500, &new), 0, "already fits");
    }
}
