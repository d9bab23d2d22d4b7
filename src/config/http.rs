//! The HTTP listener's settings and the log format.

use std::net::SocketAddr;

use clap::{Args, ValueEnum};

/// The HTTP listener.
#[derive(Debug, Clone, Args)]
pub struct HttpSettings {
    /// Address to listen on. Function Compute custom runtimes expect 0.0.0.0:9000.
    #[arg(long = "bind", env = "ADBRAG_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,

    /// Seconds to let in-flight requests finish after SIGTERM before closing anyway.
    #[arg(
        long = "shutdown-grace",
        env = "ADBRAG_SHUTDOWN_GRACE",
        default_value_t = 30
    )]
    pub shutdown_grace_secs: u64,

    /// Searches served at once; more wait in a short queue, and beyond it get 503 + Retry-After.
    #[arg(
        long = "max-searches",
        env = "ADBRAG_MAX_SEARCHES",
        default_value_t = 32
    )]
    pub max_searches: usize,

    /// Searches that may wait for a slot (up to 2 s) before new ones are refused.
    #[arg(
        long = "search-queue",
        env = "ADBRAG_SEARCH_QUEUE",
        default_value_t = 64
    )]
    pub search_queue: usize,

    /// Document requests (uploads are ingested in the request) served at once.
    #[arg(
        long = "max-document-requests",
        env = "ADBRAG_MAX_DOCUMENT_REQUESTS",
        default_value_t = 4
    )]
    pub max_document_requests: usize,

    /// Document requests that may wait for a slot.
    #[arg(
        long = "document-queue",
        env = "ADBRAG_DOCUMENT_QUEUE",
        default_value_t = 16
    )]
    pub document_queue: usize,

    /// Seconds a search or collection request may run before it is abandoned with a 503.
    #[arg(
        long = "request-timeout",
        env = "ADBRAG_REQUEST_TIMEOUT",
        default_value_t = 30
    )]
    pub request_timeout_secs: u64,

    /// Chat requests retrieving at once (an answer's retrieval and set-up; its stream is counted
    /// by `--max-streams`).
    #[arg(long = "max-chats", env = "ADBRAG_MAX_CHATS", default_value_t = 16)]
    pub max_chats: usize,

    /// Chat requests waiting for a slot before further ones are refused with 503.
    #[arg(long = "chat-queue", env = "ADBRAG_CHAT_QUEUE", default_value_t = 64)]
    pub chat_queue: usize,

    /// Answers streaming at once; beyond it a chat request is refused with 503 + Retry-After.
    #[arg(
        long = "max-streams",
        env = "ADBRAG_MAX_STREAMS",
        default_value_t = 512
    )]
    pub max_streams: usize,

    /// Seconds a document request (an upload is parsed and embedded in it) may run.
    #[arg(
        long = "upload-timeout",
        env = "ADBRAG_UPLOAD_TIMEOUT",
        default_value_t = 300
    )]
    pub upload_timeout_secs: u64,
}

/// Logging: `RUST_LOG` picks what is logged, this picks how it looks.
#[derive(Debug, Clone, Args)]
pub struct LogSettings {
    /// Log format: `pretty` for people, `json` for log collectors, `auto` picks pretty on a terminal.
    #[arg(long = "log-format", env = "ADBRAG_LOG_FORMAT", value_enum, default_value_t = LogFormat::Auto, global = true)]
    pub format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Auto,
    Pretty,
    Json,
}
