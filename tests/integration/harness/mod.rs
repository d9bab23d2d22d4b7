//! What every integration test stands on: a database of its own on the private cluster, the app
//! served on a real port, and fakes of the cloud APIs as real HTTP servers on 127.0.0.1.

pub mod db;
pub mod openai;

use std::{net::SocketAddr, sync::Arc};

use adbrag::{
    api::{self, AppState},
    config::{HttpSettings, SearchSettings},
    ingest::{
        chunk::ChunkOptions,
        pipeline::{Limits, Pipeline},
        tokens::EstimatingCounter,
    },
    llm,
    store::api_keys::{self, Role},
};
use tokio::{net::TcpListener, sync::oneshot};

pub use db::TestDb;
use openai::FakeOpenAi;

pub fn http_settings() -> HttpSettings {
    HttpSettings {
        bind: "127.0.0.1:0".parse().unwrap(),
        shutdown_grace_secs: 5,
        max_searches: 32,
        search_queue: 64,
        max_document_requests: 4,
        document_queue: 16,
        request_timeout_secs: 30,
        upload_timeout_secs: 60,
    }
}

pub fn search_settings() -> SearchSettings {
    SearchSettings {
        candidates: 50,
        rrf_k: 60.0,
        vector_weight: 1.0,
        keyword_weight: 1.0,
        ef_search: 100,
    }
}

/// Logs stay quiet unless `TEST_LOG=1`.
pub fn init_logging() {
    if std::env::var_os("TEST_LOG").is_some() {
        adbrag::telemetry::init(&adbrag::config::LogSettings {
            format: adbrag::config::LogFormat::Pretty,
        });
    }
}

/// The service on 127.0.0.1 with a port of its own, over its own database, embedding through the
/// fake OpenAI-compatible server.
pub struct TestApp {
    pub addr: SocketAddr,
    pub db: TestDb,
    pub fake: FakeOpenAi,
    pub http: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
}

/// The embedding size the test app's collections get.
pub const APP_DIMENSIONS: usize = 64;

impl TestApp {
    pub async fn spawn(db: TestDb) -> Self {
        Self::spawn_with(db, true).await
    }

    pub async fn spawn_with(db: TestDb, auth_required: bool) -> Self {
        Self::spawn_custom(db, auth_required, http_settings()).await
    }

    pub async fn spawn_custom(db: TestDb, auth_required: bool, http: HttpSettings) -> Self {
        init_logging();
        let fake = FakeOpenAi::start().await;
        let embedding = adbrag::config::EmbeddingSettings {
            dimensions: APP_DIMENSIONS,
            ..crate::ingest::embedding_settings(&fake)
        };
        let embedder = llm::embedder(&embedding).unwrap();
        let pipeline = Pipeline::new(
            db.pool.clone(),
            embedder.clone(),
            Arc::new(EstimatingCounter),
            Limits::from(&crate::ingest::ingest_settings()),
            ChunkOptions {
                max_tokens: 160,
                overlap_tokens: 0,
            },
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let app = api::router(AppState {
            pool: db.pool.clone(),
            metrics: api::Metrics::new(embedder.clone()),
            embedder,
            pipeline: Arc::new(pipeline),
            search: search_settings(),
            auth_required,
            max_upload_bytes: 1024 * 1024,
            http,
        });
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
            fake,
            http: reqwest::Client::new(),
            stop: Some(stop),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// A new API key's secret.
    pub async fn key(&self, tenant: &str, role: Role) -> String {
        api_keys::create(&self.db.pool, tenant, role, "test")
            .await
            .unwrap()
            .secret
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
