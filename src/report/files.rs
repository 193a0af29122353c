//! Report files written whole or not at all: every file first goes to a temporary name in its own
//! folder, and only when all are written are they renamed into place (a rename replaces a
//! symlink itself, never its target). A run that fails, or a disk that fills, leaves the previous
//! report as it was.

use super::ReportError;
use std::path::{Path, PathBuf};

fn temporary(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map_or_else(|| "out".into(), |n| n.to_string_lossy().into_owned());
    path.with_file_name(format!(".{name}.fabsim-{}.tmp", std::process::id()))
}

/// Writes every (path, contents), whole or not at all.
pub fn write_all(files: &[(PathBuf, &str)]) -> Result<(), ReportError> {
    let mut written: Vec<(PathBuf, &Path)> = Vec::with_capacity(files.len());
    let undo = |written: &[(PathBuf, &Path)]| {
        for (tmp, _) in written {
            let _ = std::fs::remove_file(tmp);
        }
    };
    for (path, text) in files {
        let tmp = temporary(path);
        if let Err(e) = std::fs::write(&tmp, text) {
            let _ = std::fs::remove_file(&tmp);
            undo(&written);
            return Err(ReportError::WriteNothingReplaced {
                path: path.clone(),
                source: e,
            });
        }
        written.push((tmp, path));
    }
    for (i, (tmp, path)) in written.iter().enumerate() {
        if let Err(e) = std::fs::rename(tmp, path) {
            undo(&written[i..]);
            return Err(ReportError::Rename {
                path: path.to_path_buf(),
                source: e,
            });
        }
    }
    Ok(())
}

/// Before a run: the report folder can be created and written, and so can `json`'s folder — so a
/// bad path fails at once, not after the whole run.
pub fn check_writable(dir: &Path, json: Option<&Path>) -> Result<(), ReportError> {
    std::fs::create_dir_all(dir).map_err(|source| ReportError::CreateDir {
        path: dir.to_path_buf(),
        source,
    })?;
    let probe = |file: &Path| {
        let tmp = temporary(file);
        let res = std::fs::write(&tmp, "");
        let _ = std::fs::remove_file(&tmp);
        res.map_err(|source| ReportError::Write {
            path: file.to_path_buf(),
            source,
        })
    };
    probe(&dir.join("results.json"))?;
    if let Some(j) = json {
        if j.is_dir() {
            return Err(ReportError::JsonIsFolder(j.to_path_buf()));
        }
        probe(j)?;
    }
    Ok(())
}
