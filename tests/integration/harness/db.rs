//! One PostgreSQL database per test, created on the private cluster and dropped afterwards.

use adbrag::store::{self, schema};
use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection, PgPool};
use uuid::Uuid;

/// The cluster `scripts/pg.sh` starts; `ADBRAG_TEST_DATABASE_URL` points elsewhere.
const DEFAULT_ADMIN_URL: &str = "postgres://adbrag:adbrag@127.0.0.1:55432/adbrag";

pub fn admin_url() -> String {
    std::env::var("ADBRAG_TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_ADMIN_URL.to_owned())
}

pub struct TestDb {
    pub pool: PgPool,
    pub url: String,
    pub name: String,
}

impl TestDb {
    /// A fresh database at this binary's schema.
    pub async fn migrated() -> Self {
        let db = Self::empty().await;
        schema::migrate(&db.pool, None, &[])
            .await
            .expect("migrations apply to a fresh database");
        db
    }

    /// A fresh database with nothing in it (not even pgvector).
    pub async fn empty() -> Self {
        let admin = admin_url();
        let name = format!("adbrag_test_{}", Uuid::new_v4().simple());
        let mut conn = PgConnection::connect(&admin).await.unwrap_or_else(|err| {
            panic!("cannot reach the test cluster at {admin} ({err}): run scripts/pg.sh, or set ADBRAG_TEST_DATABASE_URL")
        });
        conn.execute(AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .await
            .expect("create the test database");
        let mut url = url::Url::parse(&admin).expect("the admin URL is a URL");
        url.set_path(&name);
        let url = url.to_string();
        let pool = store::connect_url(&url, 10)
            .await
            .expect("connect to the test database");
        Self { pool, url, name }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        // Drop is synchronous and may run inside a runtime: do the async cleanup on a thread of its own.
        let name = self.name.clone();
        let admin = admin_url();
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for cleanup");
            runtime.block_on(async {
                if let Ok(mut conn) = PgConnection::connect(&admin).await {
                    let _ = conn
                        .execute(AssertSqlSafe(format!(
                            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                        )))
                        .await;
                }
            });
        })
        .join();
    }
}

/// Waits until at least `n` connections to `pool`'s database wait for an advisory lock (a test
/// holds one to catch a writer inside its transaction).
pub async fn wait_for_advisory_waiters(pool: &PgPool, n: i64) {
    loop {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted
             AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        )
        .fetch_one(pool)
        .await
        .expect("pg_locks answers");
        if waiting >= n {
            return;
        }
        tokio::task::yield_now().await;
    }
}

/// Terminates every connection to database `name` except the backend `keep`: what a database
/// restart looks like to its clients, without disturbing the other tests' databases.
pub async fn cut_connections(name: &str, keep: i32) {
    let admin = PgPool::connect(&admin_url())
        .await
        .expect("the admin database answers");
    sqlx::query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = $1 AND pid <> $2 AND pid <> pg_backend_pid()",
    )
    .bind(name)
    .bind(keep)
    .execute(&admin)
    .await
    .expect("terminate the connections");
}
