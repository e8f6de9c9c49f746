//! Reading the files of one bundle directory.

use std::path::{Path, PathBuf};

use crate::error::Problem;

/// One file's path and text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SourceFile {
    /// Path as found on disk.
    pub path: PathBuf,
    /// UTF-8 content.
    pub text: String,
}

impl SourceFile {
    /// The path relative to `root` when it is below it, for messages.
    pub fn display_path(&self, root: &Path) -> String {
        self.path
            .strip_prefix(root)
            .unwrap_or(&self.path)
            .display()
            .to_string()
    }

    /// The path to print in messages.
    pub fn rel(&self, root: &Path) -> PathBuf {
        PathBuf::from(self.display_path(root))
    }
}

/// Reads every file ending in `.{ext}` below `dir`, recursively, sorted by path.
/// Hidden entries (names starting with `.`, such as editor temporaries and the
/// `..data` links of a Kubernetes ConfigMap) are followed only through links,
/// never listed twice.
pub(crate) fn read_dir_files(
    dir: &Path,
    ext: &str,
    problems: &mut Vec<Problem>,
) -> Vec<SourceFile> {
    let paths = list_dir_files(dir, ext, problems);
    let mut files = Vec::new();
    for path in paths {
        match std::fs::read(&path) {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(text) => files.push(SourceFile { path, text }),
                Err(_) => problems.push(Problem::in_file(&path, "file is not valid UTF-8")),
            },
            Err(e) => problems.push(Problem::in_file(&path, format!("cannot read: {e}"))),
        }
    }
    files
}

/// The files ending in `.{ext}` below `dir`, as [`read_dir_files`] finds
/// them, without reading them.
pub(crate) fn list_dir_files(dir: &Path, ext: &str, problems: &mut Vec<Problem>) -> Vec<PathBuf> {
    let mut paths = Vec::new();
    collect(dir, ext, &mut paths, problems, 0);
    paths.sort();
    paths
}

/// The hash [`crate::bundle::hash_sources`] gives these files (sorted),
/// read as a stream instead of held.
pub(crate) fn hash_paths(paths: &[PathBuf], root: &Path) -> Result<String, Problem> {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for path in paths {
        let rel = path
            .strip_prefix(root)
            .unwrap_or(path)
            .display()
            .to_string();
        h.update(rel.as_bytes());
        h.update([0]);
        let mut f = std::fs::File::open(path)
            .map_err(|e| Problem::in_file(path, format!("cannot read: {e}")))?;
        std::io::copy(&mut f, &mut h)
            .map_err(|e| Problem::in_file(path, format!("cannot read: {e}")))?;
        h.update([0]);
    }
    Ok(super::hex(&h.finalize()))
}

fn collect(
    dir: &Path,
    ext: &str,
    out: &mut Vec<PathBuf>,
    problems: &mut Vec<Problem>,
    depth: usize,
) {
    if depth > 16 {
        problems.push(Problem::in_file(
            dir,
            "directories nested too deep (links in a loop?)",
        ));
        return;
    }
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            problems.push(Problem::in_file(dir, format!("cannot read directory: {e}")));
            return;
        }
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') {
            continue;
        }
        let path = entry.path();
        // metadata() follows links, so a ConfigMap's `file -> ..data/file` reads through.
        match std::fs::metadata(&path) {
            Ok(m) if m.is_dir() => collect(&path, ext, out, problems, depth + 1),
            Ok(m) if m.is_file() && name.ends_with(&format!(".{ext}")) => out.push(path),
            Ok(_) => {}
            Err(e) => problems.push(Problem::in_file(&path, format!("cannot read: {e}"))),
        }
    }
}
