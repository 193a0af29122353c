//! Reports people put in front of a design review: SVG plots, a self-contained HTML page with
//! the plots inline, and Markdown — one document rendered both ways.

pub mod comparison;
pub mod doc;
pub mod files;
pub mod plot;
pub mod simulation;
pub mod verdict;

use std::path::PathBuf;

/// Why a report could not be drawn or written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("cannot draw the plot: {0}")]
    Plot(String),
    #[error("cannot create {}: {source}", path.display())]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {}: {source} (nothing was replaced)", path.display())]
    WriteNothingReplaced {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot put {} in place: {source}", path.display())]
    Rename {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("--json {} is a folder; give a file name", .0.display())]
    JsonIsFolder(PathBuf),
}
