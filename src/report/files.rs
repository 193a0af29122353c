//! Report files written whole or not at all: every file first goes to a temporary name in its own
//! folder, and only when all are written are they renamed into place (a rename replaces a
//! symlink itself, never its target). A run that fails, or a disk that fills, leaves the previous
//! report as it was.

use std::path::{Path, PathBuf};

fn temporary(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map_or_else(|| "out".into(), |n| n.to_string_lossy().into_owned());
    path.with_file_name(format!(".{name}.fabsim-{}.tmp", std::process::id()))
}

/// Writes every (path, contents), whole or not at all.
pub fn write_all(files: &[(PathBuf, &str)]) -> Result<(), String> {
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
            return Err(format!(
                "cannot write {}: {e} (nothing was replaced)",
                path.display()
            ));
        }
        written.push((tmp, path));
    }
    for (i, (tmp, path)) in written.iter().enumerate() {
        if let Err(e) = std::fs::rename(tmp, path) {
            undo(&written[i..]);
            return Err(format!("cannot put {} in place: {e}", path.display()));
        }
    }
    Ok(())
}

/// Before a run: the report folder can be created and written, and so can `json`'s folder — so a
/// bad path fails at once, not after the whole run.
pub fn check_writable(dir: &Path, json: Option<&Path>) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let probe = |file: &Path| {
        let tmp = temporary(file);
        let res = std::fs::write(&tmp, "");
        let _ = std::fs::remove_file(&tmp);
        res.map_err(|e| format!("cannot write {}: {e}", file.display()))
    };
    probe(&dir.join("results.json"))?;
    if let Some(j) = json {
        if j.is_dir() {
            return Err(format!(
                "--json {} is a folder; give a file name",
                j.display()
            ));
        }
        probe(j)?;
    }
    Ok(())
}
