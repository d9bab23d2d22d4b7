//! What every integration test stands on: a database of its own on the private cluster, the app
//! served on a real port, and fakes of the cloud APIs as real HTTP servers on 127.0.0.1.

pub mod db;
pub mod openai;
pub mod oss;
pub mod rerank;

use std::{net::SocketAddr, sync::Arc};

use adbrag::{
    api::{self, AppParts, AppState, Auth},
    config::{ChatSettings, HttpSettings, SearchSettings},
    ingest::{chunk::ChunkOptions, pipeline::Pipeline, tokens::EstimatingCounter},
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
        max_chats: 16,
        chat_queue: 64,
        max_streams: 64,
    }
}

/// Answers from the fake's chat completions, with retries quick enough for tests.
pub fn chat_settings(fake: &FakeOpenAi) -> ChatSettings {
    ChatSettings {
        base_url: Some(fake.base_url()),
        api_key: Some("sk-test".to_owned().into()),
        model: "fake-chat".into(),
        context_tokens: 32_768,
        answer_tokens: 512,
        history_tokens: 2048,
        passage_tokens: 6000,
        min_similarity: 0.3,
        temperature: 0.2,
        qwen_fields: true,
        max_attempts: 3,
        timeout_secs: 10,
        concurrency: 16,
        prompts_dir: None,
    }
}

pub fn search_settings() -> SearchSettings {
    SearchSettings {
        candidates: 50,
        fusion: adbrag::config::FusionArg::Score,
        rrf_k: 60.0,
        bm25_k1: 1.2,
        bm25_b: 0.75,
        vector_weight: 1.0,
        keyword_weight: 0.75,
        unreadable_vector_weight: 0.0,
        postings_per_term: 200,
        rerank: Default::default(),
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
        Self::start(db, auth_required, http, true).await
    }

    /// Answers come from the extractive answerer (no chat endpoint configured).
    pub async fn spawn_extractive(db: TestDb) -> Self {
        Self::start(db, true, http_settings(), false).await
    }

    async fn start(db: TestDb, auth_required: bool, http: HttpSettings, chat: bool) -> Self {
        init_logging();
        let fake = FakeOpenAi::start().await;
        let embedding = adbrag::config::EmbeddingSettings {
            dimensions: APP_DIMENSIONS,
            ..crate::ingest::embedding_settings(&fake)
        };
        let embedder = llm::embedder(&embedding.config().unwrap()).unwrap();
        let pipeline = Pipeline::new(
            db.pool.clone(),
            embedder.clone(),
            Arc::new(EstimatingCounter),
            crate::ingest::ingest_settings().limits(),
            ChunkOptions {
                max_tokens: 160,
                overlap_tokens: 0,
            },
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let chat = if chat {
            chat_settings(&fake)
        } else {
            ChatSettings {
                base_url: None,
                api_key: None,
                ..chat_settings(&fake)
            }
        };
        let answerer = adbrag::answer::answerer(&chat.config().unwrap(), chat.answer()).unwrap();
        let app = api::router(AppState::new(AppParts {
            pool: db.pool.clone(),
            embedder,
            reranker: None,
            pipeline: Arc::new(pipeline),
            answerer: Arc::new(answerer),
            search: search_settings().options(adbrag::store::dialect::Dialect::Pgvector),
            http,
            auth: if auth_required {
                Auth::Required
            } else {
                Auth::InsecureLocal
            },
            max_upload_bytes: 1024 * 1024,
        }));
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
