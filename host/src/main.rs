//! The `edgeinfer` command line. Each subcommand lives in `cli/`; errors end here as one line
//! on stderr and a non-zero exit code.

mod cli;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    restore_default_sigpipe();
    let args = cli::Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("EDGEINFER_LOG")
                .unwrap_or_else(|_| args.default_log_filter().into()),
        )
        .with_writer(std::io::stderr)
        // Colors only on a terminal: logs that go to files and collectors stay plain.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let error_code = args.error_exit_code();
    match cli::run(args) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            eprintln!("error: {}", one_line(&err));
            ExitCode::from(cli::exit_code_of(&err, error_code))
        }
    }
}

/// `outer: inner: cause` on one line, the shape a log or a scheduler can keep.
fn one_line(err: &anyhow::Error) -> String {
    format!("{err:#}").replace('\n', " ")
}

/// `edgeinfer info m.wasm | head` should end quietly when `head` closes the pipe, as other
/// Unix tools do, instead of panicking on the failed write (Rust ignores SIGPIPE by default).
fn restore_default_sigpipe() {
    #[cfg(unix)]
    // SAFETY: called first thing in main, before any other thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
