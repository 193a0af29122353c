//! The `fabsim` command: argument parsing and exit codes only; the work is in the library.

use clap::{Parser, Subcommand};
use fabsim::cli;
use fabsim::net::Proto;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "fabsim",
    version,
    about = "Kubernetes networking on a Cisco ACI fabric: ACI-CNI and BGP designs, simulated"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check a scenario file and report every problem at once (exit 2 on errors).
    Validate {
        scenario: PathBuf,
        /// Print only problems.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Run the scenario's traffic through every design over time; write results.json and report.md.
    Simulate {
        scenario: PathBuf,
        /// Only these designs (repeatable); all by default.
        #[arg(long = "design")]
        designs: Vec<String>,
        /// The report folder (default reports/<scenario name>/).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Also write results.json here.
        #[arg(long)]
        json: Option<PathBuf>,
        /// Time-series sampling interval (e.g. 1s).
        #[arg(long, value_parser = parse_duration)]
        sample_interval: Option<fabsim::time::Nanos>,
    },
    /// Show a leaf's or a node's routing table under a design, with the paths dropped and why.
    Routes {
        scenario: PathBuf,
        #[arg(long)]
        design: String,
        /// leaf:ID or node:NAME
        #[arg(long)]
        device: String,
        #[arg(long)]
        json: bool,
    },
    /// Walk one flow and its reply hop by hop through a design.
    Trace {
        scenario: PathBuf,
        #[arg(long)]
        design: String,
        /// Source: pod:NS/NAME, deployment:NS/NAME, external:NAME or an IP.
        #[arg(long)]
        from: String,
        /// Destination: service:NS/NAME:PORT, pod:NS/NAME:PORT, external:NAME:PORT or IP:PORT[/PROTO].
        #[arg(long)]
        to: String,
        #[arg(long, value_parser = parse_proto)]
        proto: Option<Proto>,
        /// Source port (default 32768, the start of Linux's ip_local_port_range).
        #[arg(long)]
        sport: Option<u16>,
        #[arg(long)]
        json: bool,
    },
}

fn parse_duration(s: &str) -> Result<fabsim::time::Nanos, String> {
    fabsim::time::Nanos::parse(s)
}

fn parse_proto(s: &str) -> Result<Proto, String> {
    Proto::parse(s).ok_or_else(|| format!("`{s}` is not tcp, udp or icmp"))
}

fn main() -> ExitCode {
    let args = match Cli::try_parse() {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                cli::EXIT_BAD_INPUT
            } else {
                cli::EXIT_OK
            });
        }
    };
    let code = match &args.command {
        Command::Validate { scenario, quiet } => cli::validate::run(scenario, *quiet),
        Command::Simulate {
            scenario,
            designs,
            out,
            json,
            sample_interval,
        } => cli::simulate::run(&cli::simulate::Args {
            scenario,
            designs,
            out: out.as_deref(),
            json: json.as_deref(),
            sample_interval: *sample_interval,
        }),
        Command::Routes {
            scenario,
            design,
            device,
            json,
        } => cli::routes::run(scenario, design, device, *json),
        Command::Trace {
            scenario,
            design,
            from,
            to,
            proto,
            sport,
            json,
        } => cli::trace::run(&cli::trace::Args {
            scenario,
            design,
            from,
            to,
            proto: *proto,
            sport: *sport,
            json: *json,
        }),
    };
    ExitCode::from(code)
}
