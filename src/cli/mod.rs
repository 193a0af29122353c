//! Subcommands, one file each. They load the scenario, call the library, print, and return an
//! exit code: 0 ok, 2 bad input, 1 other failure.

pub mod compare;
pub mod routes;
pub mod simulate;
pub mod size;
pub mod size_verify;
pub mod trace;
pub mod validate;

use crate::scenario::{self, Scenario};
use std::path::Path;

/// Exit codes (DESIGN.md "Interfaces").
pub const EXIT_OK: u8 = 0;
pub const EXIT_FAILURE: u8 = 1;
pub const EXIT_BAD_INPUT: u8 = 2;

/// Writes a command's output to stdout. A closed pipe (`fabsim … | head`) is not an error.
pub fn emit(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

/// Loads a scenario for a command that needs a valid one: prints warnings to stderr, and on
/// errors prints them all and returns the exit code.
pub fn load_valid(path: &Path) -> Result<Scenario, u8> {
    let loaded = scenario::load(path);
    for d in loaded.diagnostics.sorted() {
        eprintln!("{d}");
    }
    loaded.scenario.ok_or(EXIT_BAD_INPUT)
}

/// Says where the report went, or why it could not be written; the exit code.
pub fn report_written<E: std::fmt::Display>(dir: &Path, res: Result<(), E>) -> u8 {
    match res {
        Ok(()) => {
            eprintln!("report written to {}", dir.display());
            EXIT_OK
        }
        Err(m) => {
            eprintln!("{m}");
            EXIT_FAILURE
        }
    }
}
