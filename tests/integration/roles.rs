//! Least privilege: the roles migration 0010 creates, checked by logging in as each.

use adbrag::store::{
    collections,
    dialect::{self, Dimensions},
    schema,
};
use sqlx::{Connection, PgConnection};
use uuid::Uuid;

use crate::{harness::TestDb, store_collections::new_collection};

/// A login role that is a member of `group`, dropped when the guard goes.
struct Login {
    name: String,
    url: String,
    admin: String,
}

impl Login {
    async fn new(db: &TestDb, group: &str) -> Login {
        let name = format!("adbrag_t_{}", Uuid::new_v4().simple());
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "CREATE ROLE {name} LOGIN PASSWORD 'pw' IN ROLE {group}"
        )))
        .execute(&db.pool)
        .await
        .unwrap();
        let mut url = url::Url::parse(&db.url).unwrap();
        url.set_username(&name).unwrap();
        url.set_password(Some("pw")).unwrap();
        Login {
            name,
            url: url.to_string(),
            admin: db.url.clone(),
        }
    }

    async fn connect(&self) -> PgConnection {
        PgConnection::connect(&self.url).await.unwrap()
    }
}

impl Drop for Login {
    fn drop(&mut self) {
        let (name, admin) = (self.name.clone(), self.admin.clone());
        let _ = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(async {
                    if let Ok(mut conn) = PgConnection::connect(&admin).await {
                        let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                            "DROP OWNED BY {name}; DROP ROLE IF EXISTS {name}"
                        )))
                        .execute(&mut conn)
                        .await;
                    }
                });
        })
        .join();
    }
}

/// SQLSTATE of a statement's failure, or None if it succeeded.
async fn refused(conn: &mut PgConnection, sql: &str) -> Option<String> {
    match sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(&mut *conn)
        .await
    {
        Ok(_) => None,
        Err(sqlx::Error::Database(db)) => db.code().map(|c| c.into_owned()),
        Err(err) => panic!("{sql}: {err}"),
    }
}

#[tokio::test]
async fn the_reader_reads_and_cannot_write_or_delete() {
    let db = TestDb::migrated().await;
    let mut admin = db.pool.acquire().await.unwrap();
    let collection = collections::create(&mut admin, &new_collection("acme", "docs", 4))
        .await
        .unwrap();
    crate::store_documents::write(&db, collection.id, "oss://b/a.txt", 1, "v1", 2).await;
    let reader = Login::new(&db, "adbrag_reader").await;
    let mut conn = reader.connect().await;

    // What the query path needs: the schema check, the collection, a search's tables.
    schema::require_ready(&sqlx::PgPool::connect(&reader.url).await.unwrap(), None)
        .await
        .unwrap();
    for read in [
        "SELECT count(*) FROM collection",
        "SELECT count(*) FROM document",
        "SELECT count(*) FROM chunk",
        "SELECT count(*) FROM chunk_vector_4",
        "SELECT count(*) FROM keyword_posting",
        "SELECT count(*) FROM keyword_term",
        "SELECT count(*) FROM keyword_stats",
        "SELECT count(*) FROM api_key",
    ] {
        assert_eq!(refused(&mut conn, read).await, None, "{read}");
    }
    for write in [
        "DELETE FROM chunk",
        "DELETE FROM chunk_vector_4",
        "DELETE FROM document",
        "UPDATE document SET title = 'x'",
        "INSERT INTO audit_log (actor, action) VALUES ('r', 'x')",
        "DELETE FROM api_key",
        "TRUNCATE keyword_posting",
        "DROP TABLE chunk",
        "CREATE TABLE sneaky (id int)",
        // Nor may it read what only writers need: jobs name sources, the cache holds vectors.
        "SELECT count(*) FROM ingest_job",
        "SELECT count(*) FROM embedding_cache",
        "SELECT count(*) FROM audit_log",
    ] {
        assert_eq!(
            refused(&mut conn, write).await.as_deref(),
            Some("42501"),
            "the reader ran: {write}"
        );
    }
    let chunks: i64 = sqlx::query_scalar("SELECT count(*) FROM chunk")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(chunks, 2, "nothing was deleted");
}

#[tokio::test]
async fn the_writer_changes_rows_never_the_schema() {
    let db = TestDb::migrated().await;
    let writer = Login::new(&db, "adbrag_writer").await;
    let mut conn = writer.connect().await;

    // Rows: a collection of a size whose table exists, its documents, then all of it deleted.
    let mut admin = db.pool.acquire().await.unwrap();
    dialect::ensure_vector_table(
        &mut admin,
        dialect::Dialect::Pgvector,
        Dimensions::new(4).unwrap(),
    )
    .await
    .unwrap();
    let collection = collections::create(&mut conn, &new_collection("acme", "docs", 4))
        .await
        .unwrap();
    let (document, chunks) =
        crate::store_documents::version(collection.id, "oss://b/a.txt", 1, "v1", 2);
    adbrag::store::documents::replace(&mut conn, &document, &chunks)
        .await
        .unwrap();
    collections::delete(&mut conn, "acme", "docs")
        .await
        .unwrap();

    // A size with no table yet: it may not create one, and says who can.
    let err = collections::create(&mut conn, &new_collection("acme", "big", 8))
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "the database role cannot create the vector table for 8-dimension embeddings: run `adbrag migrate --vector-dimensions 8` as the schema owner, then retry"
    );
    for ddl in [
        "DROP TABLE chunk",
        "CREATE TABLE sneaky (id int)",
        "ALTER TABLE document ADD COLUMN x int",
        "TRUNCATE chunk",
        "DELETE FROM audit_log",
        "UPDATE audit_log SET actor = 'someone else'",
        "DELETE FROM _sqlx_migrations",
    ] {
        assert_eq!(
            refused(&mut conn, ddl).await.as_deref(),
            Some("42501"),
            "the writer ran: {ddl}"
        );
    }
}

/// Every table a migration adds must be granted: a table no role can use would fail in
/// production only, under least privilege, never here under a superuser.
#[tokio::test]
async fn every_table_is_granted_to_the_roles_that_use_it() {
    let db = TestDb::migrated().await;
    let mut conn = db.pool.acquire().await.unwrap();
    collections::create(&mut conn, &new_collection("acme", "docs", 4))
        .await
        .unwrap();
    let ungranted: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_class c
         WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r'
           AND NOT has_table_privilege('adbrag_writer', c.oid, 'SELECT')
         ORDER BY 1",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert!(
        ungranted.is_empty(),
        "not granted to adbrag_writer: {ungranted:?}"
    );
}
