//! Reports people put in front of a design review: SVG plots, a self-contained HTML page with
//! the plots inline, and Markdown — one document rendered both ways.

pub mod comparison;
pub mod doc;
pub mod files;
pub mod plot;
pub mod simulation;
pub mod verdict;
