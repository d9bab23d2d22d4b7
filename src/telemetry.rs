//! Logging: `tracing` to stderr, pretty for people and JSON for collectors.
//!
//! `RUST_LOG` chooses what is logged (default: adbrag at info, its libraries at warn).

use std::io::IsTerminal;

use tracing_subscriber::{EnvFilter, fmt, prelude::*};

use crate::config::{LogFormat, LogSettings};

const DEFAULT_FILTER: &str = "warn,adbrag=info,tower_http=info";

/// Installs the global subscriber. Safe to call more than once (later calls do nothing).
pub fn init(settings: &LogSettings) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    // reqsign logs the credentials it signs with at DEBUG: never let a RUST_LOG=debug print them
    // (ingest::object also refuses per-request keys while that target is at DEBUG).
    let filter = match "reqsign_core=info".parse() {
        Ok(directive) => filter.add_directive(directive),
        Err(_) => filter,
    };
    let json = match settings.format {
        LogFormat::Json => true,
        LogFormat::Pretty => false,
        LogFormat::Auto => !std::io::stderr().is_terminal(),
    };
    let registry = tracing_subscriber::registry().with(filter);
    let _ = if json {
        registry
            .with(
                fmt::layer()
                    .json()
                    .with_current_span(true)
                    .with_writer(std::io::stderr),
            )
            .try_init()
    } else {
        registry
            .with(fmt::layer().with_writer(std::io::stderr))
            .try_init()
    };
}
