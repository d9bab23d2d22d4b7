//! What every integration test stands on: a database of its own on the private cluster, the app
//! served on a real port, and fakes of the cloud APIs as real HTTP servers on 127.0.0.1.

pub mod db;
pub mod openai;

use std::net::SocketAddr;

use adbrag::api::{self, AppState};
use tokio::{net::TcpListener, sync::oneshot};

pub use db::TestDb;

/// Logs stay quiet unless `TEST_LOG=1`.
pub fn init_logging() {
    if std::env::var_os("TEST_LOG").is_some() {
        adbrag::telemetry::init(&adbrag::config::LogSettings {
            format: adbrag::config::LogFormat::Pretty,
        });
    }
}

/// The service on 127.0.0.1 with a port of its own, over its own database.
pub struct TestApp {
    pub addr: SocketAddr,
    pub db: TestDb,
    pub http: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
}

impl TestApp {
    pub async fn spawn(db: TestDb) -> Self {
        init_logging();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let app = api::router(AppState::new(db.pool.clone()));
        tokio::spawn(api::serve(
            listener,
            app,
            async {
                let _ = stopped.await;
            },
            std::time::Duration::from_secs(5),
        ));
        Self {
            addr,
            db,
            http: reqwest::Client::new(),
            stop: Some(stop),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
