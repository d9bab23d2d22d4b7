//! Purge against real PostgreSQL: exactly what a document owned goes, what others share stays,
//! nothing comes back, and the verification (and an independent look at every table) agrees.

use std::process::Command;

use adbrag::{
    ingest::{pipeline::Outcome, source::SourceObject},
    store::{
        collections::{self, Collection},
        purge::{self, Selector},
    },
};
use chrono::{TimeZone, Utc};
use serde_json::{Value, json};

use crate::{
    harness::TestDb,
    queue::{Setup, at, event, invoke, payload, setup},
    store_collections::new_collection,
};

/// A paragraph of 90 to 160 estimated tokens: it fits a chunk (160) alone, and two do not.
fn paragraph(topic: &str) -> String {
    use adbrag::ingest::tokens::{EstimatingCounter, TokenCounter};
    let mut sentences = Vec::new();
    while EstimatingCounter.count(&sentences.join(" ")) <= 90 {
        let i = sentences.len();
        sentences.push(format!(
            "The {topic} rule number {i} applies to every employee of the office."
        ));
    }
    let text = sentences.join(" ");
    assert!(EstimatingCounter.count(&text) < 150, "{text}");
    text
}

fn text_object(name: &str, paragraphs: &[String], time: i64) -> SourceObject {
    SourceObject {
        uri: format!("oss://corp-docs/{name}"),
        file_name: Some(name.to_owned()),
        bytes: paragraphs.join("\n\n").into_bytes(),
        etag: None,
        modified: Utc.timestamp_opt(1_790_000_000 + time, 0).unwrap(),
        metadata: json!({"subject-id": name.trim_end_matches(".txt")}),
        acl: Vec::new(),
    }
}

async fn docs_collection(s: &Setup) -> Collection {
    let mut conn = s.db.pool.acquire().await.unwrap();
    collections::create(&mut conn, &new_collection("acme", "docs", 16))
        .await
        .unwrap()
}

async fn count(db: &TestDb, sql: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_one(&db.pool)
        .await
        .unwrap()
}

/// Every table's row count, to prove a dry run changed nothing.
async fn row_counts(db: &TestDb) -> Vec<(String, i64)> {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' ORDER BY 1",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    let mut counts = Vec::new();
    for table in tables {
        counts.push((
            table.clone(),
            count(db, &format!("SELECT count(*) FROM {table}")).await,
        ));
    }
    counts
}

/// Rows in any table but the audit log with a uuid column equal to `id`: an independent check.
async fn references(db: &TestDb, id: uuid::Uuid) -> Vec<String> {
    let columns: Vec<(String, String)> = sqlx::query_as(
        "SELECT table_name::text, column_name::text FROM information_schema.columns
         WHERE table_schema = 'public' AND data_type = 'uuid' AND table_name <> 'audit_log'",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    let mut found = Vec::new();
    for (table, column) in columns {
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT count(*) FROM {table} WHERE {column} = $1"
        )))
        .bind(id)
        .fetch_one(&db.pool)
        .await
        .unwrap();
        if n > 0 {
            found.push(format!("{table}.{column}: {n}"));
        }
    }
    found
}

fn adbrag(db: &TestDb) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_adbrag"));
    command
        .env_remove("RUST_LOG")
        .env("ADBRAG_LOG_FORMAT", "json")
        .env("DATABASE_URL", &db.url)
        .env("ADBRAG_TENANT", "acme");
    command
}

/// Two documents sharing one paragraph, and a third alone.
async fn three_documents(s: &Setup) -> (Collection, [uuid::Uuid; 3]) {
    let collection = docs_collection(s).await;
    let shared = paragraph("shared travel");
    let pipeline = s.queue.pipeline();
    let mut ids = Vec::new();
    for (name, own) in [
        ("alice.txt", "parental leave"),
        ("bob.txt", "overtime pay"),
        ("carol.txt", "laptop security"),
    ] {
        let done = pipeline
            .ingest(
                &collection,
                text_object(name, &[paragraph(own), shared.clone()], 1),
                "test",
            )
            .await
            .unwrap();
        assert!(matches!(done.outcome, Outcome::Written { .. }));
        ids.push(done.document_id.unwrap());
    }
    (collection, [ids[0], ids[1], ids[2]])
}

#[tokio::test]
async fn purging_one_document_removes_exactly_what_only_it_used() {
    let s = setup().await;
    let (collection, [alice, bob, _]) = three_documents(&s).await;
    let chunks_before = count(&s.db, "SELECT count(*) FROM chunk").await;
    let cache_before = count(&s.db, "SELECT count(*) FROM embedding_cache").await;
    let shared_text = paragraph("shared travel");
    let shared_copies: i64 = sqlx::query_scalar("SELECT count(*) FROM chunk WHERE text = $1")
        .bind(&shared_text)
        .fetch_one(&s.db.pool)
        .await
        .unwrap();
    assert_eq!(
        shared_copies, 3,
        "the shared paragraph is one chunk in each document"
    );
    let alice_chunks: i64 = sqlx::query_scalar("SELECT count(*) FROM chunk WHERE document_id = $1")
        .bind(alice)
        .fetch_one(&s.db.pool)
        .await
        .unwrap();
    assert_eq!(
        (chunks_before, alice_chunks, cache_before),
        (6, 2, 4),
        "two chunks each; one cache entry for the three shared chunks"
    );
    let mut conn = s.db.pool.acquire().await.unwrap();
    let selector = Selector {
        tenant: "acme".into(),
        collection_id: Some(collection.id),
        document_ids: vec![alice],
        ..Selector::default()
    };
    let (receipt, evidence) = purge::execute(&mut conn, &selector, &[], "dpo", Some("REQ-1"))
        .await
        .unwrap();
    let verification = purge::verify(&mut conn, &evidence).await.unwrap();

    assert_eq!(receipt.documents, vec![alice]);
    assert_eq!(
        (
            receipt.counts.chunks,
            receipt.counts.cache_entries,
            receipt.counts.cache_entries_shared
        ),
        (2, 1, 1)
    );
    assert!(verification.ok, "{verification:?}");
    assert_eq!(
        verification.identical_chunks_elsewhere, 2,
        "bob's and carol's shared paragraph"
    );
    assert_eq!(count(&s.db, "SELECT count(*) FROM chunk").await, 4);
    // The vectors went with their chunks: bob's and carol's four stay.
    assert_eq!(verification.vectors_left, 0);
    let vectors = format!(
        "SELECT count(*) FROM {}",
        adbrag::store::dialect::vector_table(
            adbrag::store::dialect::Dimensions::new(i64::from(collection.dimensions)).unwrap()
        )
    );
    assert_eq!(count(&s.db, &vectors).await, 4);
    assert_eq!(
        count(&s.db, "SELECT count(*) FROM embedding_cache").await,
        3
    );
    assert!(
        references(&s.db, alice).await.is_empty(),
        "{:?}",
        references(&s.db, alice).await
    );
    assert!(!references(&s.db, bob).await.is_empty(), "bob is untouched");
    let phrase = "The parental leave rule number 0";
    assert_eq!(
        count(
            &s.db,
            &format!("SELECT count(*) FROM chunk WHERE strpos(text, '{phrase}') > 0")
        )
        .await,
        0
    );
    let terms = count(
        &s.db,
        "SELECT count(*) FROM keyword_term WHERE term = 'parent'",
    )
    .await;
    assert_eq!(terms, 0, "the keyword statistics forgot alice's own terms");
    // The audit record names the id and the counts, never the content or the URI.
    let details: Value = sqlx::query_scalar("SELECT details FROM audit_log WHERE action = 'purge'")
        .fetch_one(&s.db.pool)
        .await
        .unwrap();
    assert_eq!(details["documents"], json!([alice]));
    assert_eq!(details["reason"], "REQ-1");
    let text = details.to_string();
    assert!(
        !text.contains("alice.txt") && !text.contains("parental"),
        "{text}"
    );
}

#[tokio::test]
async fn a_purged_document_is_not_resurrected_by_a_replayed_upload() {
    let s = setup().await;
    let collection = docs_collection(&s).await;
    let etag = s.oss.put(
        "corp-docs",
        "alice.txt",
        paragraph("parental leave").as_bytes(),
        &[],
    );
    let create = event("ObjectCreated:PutObject", "alice.txt", Some(&etag), at(1));
    invoke(&s, payload(std::slice::from_ref(&create))).await;
    assert_eq!(count(&s.db, "SELECT count(*) FROM document").await, 1);

    let mut conn = s.db.pool.acquire().await.unwrap();
    let selector = Selector {
        tenant: "acme".into(),
        collection_id: Some(collection.id),
        source_uris: vec!["oss://corp-docs/alice.txt".into()],
        ..Selector::default()
    };
    let (_, evidence) = purge::execute(
        &mut conn,
        &selector,
        &[(collection.id, "oss://corp-docs/alice.txt".into())],
        "dpo",
        None,
    )
    .await
    .unwrap();
    assert!(purge::verify(&mut conn, &evidence).await.unwrap().ok);
    assert_eq!(
        count(&s.db, "SELECT count(*) FROM ingest_job").await,
        0,
        "its jobs went too"
    );

    // The same event replayed, and a newer upload: neither brings it back.
    let (_, _, answer) = invoke(&s, payload(&[create])).await;
    assert_eq!(
        answer["summary"]["events"][0]["outcome"], "stale",
        "{answer}"
    );
    let newer = event("ObjectCreated:PutObject", "alice.txt", Some(&etag), at(100));
    let (_, _, answer) = invoke(&s, payload(&[newer])).await;
    assert_eq!(
        answer["summary"]["events"][0]["outcome"], "stale",
        "{answer}"
    );
    // Through the ingest path too.
    let done = s
        .queue
        .pipeline()
        .ingest(
            &collection,
            text_object("alice.txt", &[paragraph("parental leave")], 500),
            "test",
        )
        .await
        .unwrap();
    assert_eq!(done.outcome, Outcome::Stale);
    assert_eq!(
        count(
            &s.db,
            "SELECT count(*) FROM document WHERE status = 'ready'"
        )
        .await,
        0
    );
    assert_eq!(
        count(&s.db, "SELECT count(*) FROM embedding_cache").await,
        0,
        "a stale write caches nothing"
    );

    // Until an operator lifts the tombstone.
    assert!(
        purge::lift(&mut conn, collection.id, "oss://corp-docs/alice.txt", "dpo")
            .await
            .unwrap()
    );
    let done = s
        .queue
        .pipeline()
        .ingest(
            &collection,
            text_object("alice.txt", &[paragraph("parental leave")], 600),
            "test",
        )
        .await
        .unwrap();
    assert!(matches!(done.outcome, Outcome::Written { .. }));
}

#[tokio::test]
async fn a_purge_racing_an_ingest_of_the_same_source_always_wins() {
    let s = setup().await;
    let collection = docs_collection(&s).await;
    for round in 0..15 {
        let name = format!("race-{round}.txt");
        let uri = format!("oss://corp-docs/{name}");
        let selector = Selector {
            tenant: "acme".into(),
            collection_id: Some(collection.id),
            source_uris: vec![uri.clone()],
            ..Selector::default()
        };
        let pipeline = s.queue.pipeline();
        let object = text_object(&name, &[paragraph(&format!("race {round}"))], round);
        let pool = s.db.pool.clone();
        let extra = vec![(collection.id, uri.clone())];
        let (ingested, purged) =
            tokio::join!(pipeline.ingest(&collection, object, "test"), async {
                let mut conn = pool.acquire().await.unwrap();
                purge::execute(&mut conn, &selector, &extra, "dpo", None).await
            });
        ingested.unwrap();
        purged.unwrap();
        let left = count(
            &s.db,
            &format!(
                "SELECT count(*) FROM document WHERE source_uri = '{uri}' AND status = 'ready'"
            ),
        )
        .await;
        assert_eq!(left, 0, "round {round}: the purge lost");
        let phrase = format!("The race {round} rule number 0");
        assert_eq!(
            count(
                &s.db,
                &format!("SELECT count(*) FROM chunk WHERE strpos(text, '{phrase}') > 0")
            )
            .await,
            0,
            "round {round}"
        );
    }
    assert_eq!(
        count(&s.db, "SELECT count(*) FROM embedding_cache").await,
        0
    );
}

#[tokio::test]
async fn the_cli_dry_runs_refuses_broad_selections_and_files_a_receipt() {
    let s = setup().await;
    let (_, [alice, _, _]) = three_documents(&s).await;
    let before = row_counts(&s.db).await;

    let dry = adbrag(&s.db)
        .args([
            "purge",
            "--collection",
            "docs",
            "--where",
            r#"{"subject-id": "alice"}"#,
            "--dry-run",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(
        dry.status.success(),
        "{}",
        String::from_utf8_lossy(&dry.stderr)
    );
    let plan: Value = serde_json::from_slice(&dry.stdout).unwrap();
    assert_eq!(plan["documents"][0]["id"], alice.to_string());
    assert!(plan["counts"]["chunks"].as_u64().unwrap() >= 2, "{plan}");
    assert_eq!(row_counts(&s.db).await, before, "a dry run changes nothing");

    let broad = adbrag(&s.db)
        .args([
            "purge",
            "--collection",
            "docs",
            "--where",
            r#"{"subject-id": {"$ne": "nobody"}}"#,
            "--yes",
            "--actor",
            "dpo",
        ])
        .output()
        .unwrap();
    assert!(!broad.status.success());
    let stderr = String::from_utf8_lossy(&broad.stderr);
    assert!(
        stderr.contains("matches all 3 document(s)") && stderr.contains("--all-matching"),
        "{stderr}"
    );

    let malformed = adbrag(&s.db)
        .args([
            "purge",
            "--collection",
            "docs",
            "--where",
            r#"{"subject-id": {"$regex": "."}}"#,
            "--yes",
            "--actor",
            "dpo",
        ])
        .output()
        .unwrap();
    assert!(!malformed.status.success());
    assert_eq!(row_counts(&s.db).await, before);

    let anonymous = adbrag(&s.db)
        .env_remove("USER")
        .env_remove("LOGNAME")
        .args(["purge", "--document", &alice.to_string(), "--yes"])
        .output()
        .unwrap();
    assert!(!anonymous.status.success());
    assert!(String::from_utf8_lossy(&anonymous.stderr).contains("--actor"));

    let unconfirmed = adbrag(&s.db)
        .args(["purge", "--document", &alice.to_string(), "--actor", "dpo"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(
        !unconfirmed.status.success(),
        "no terminal, no --yes: refused"
    );
    assert_eq!(row_counts(&s.db).await, before);

    let missing = adbrag(&s.db)
        .args([
            "purge",
            "--document",
            &uuid::Uuid::new_v4().to_string(),
            "--actor",
            "dpo",
            "--yes",
        ])
        .output()
        .unwrap();
    assert!(missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stdout).contains("nothing matched"));
    assert_eq!(
        count(
            &s.db,
            "SELECT count(*) FROM audit_log WHERE action = 'purge'"
        )
        .await,
        1,
        "the attempt is audited"
    );

    let done = adbrag(&s.db)
        .args([
            "purge",
            "--document",
            &alice.to_string(),
            "--actor",
            "dpo",
            "--reason",
            "REQ-7",
            "--yes",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    let receipt: Value = serde_json::from_slice(&done.stdout).unwrap();
    assert_eq!(receipt["verification"]["ok"], true, "{receipt}");
    assert_eq!(receipt["receipt"]["documents"], json!([alice]));
    assert!(references(&s.db, alice).await.is_empty());
}

#[tokio::test]
async fn after_vacuum_the_purged_text_is_not_in_the_tables_file_on_disk() {
    let s = setup().await;
    let collection = docs_collection(&s).await;
    let secret = "Zanzibar-7731 is the data subject's unique marker";
    let done = s
        .queue
        .pipeline()
        .ingest(
            &collection,
            text_object("dora.txt", &[format!("{secret}. {}", paragraph("dora"))], 1),
            "test",
        )
        .await
        .unwrap();
    let heap = || async {
        sqlx::query("CHECKPOINT").execute(&s.db.pool).await.unwrap();
        let (dir, file): (String, String) = sqlx::query_as(
            "SELECT current_setting('data_directory'), pg_relation_filepath('chunk')",
        )
        .fetch_one(&s.db.pool)
        .await
        .unwrap();
        std::fs::read(format!("{dir}/{file}")).unwrap_or_default()
    };
    let contains = |bytes: &[u8]| bytes.windows(secret.len()).any(|w| w == secret.as_bytes());
    assert!(
        contains(&heap().await),
        "the control: before the purge the text is on disk"
    );

    let mut conn = s.db.pool.acquire().await.unwrap();
    let selector = Selector {
        tenant: "acme".into(),
        collection_id: Some(collection.id),
        document_ids: vec![done.document_id.unwrap()],
        ..Selector::default()
    };
    let (receipt, _) = purge::execute(&mut conn, &selector, &[], "dpo", None)
        .await
        .unwrap();
    let vacuumed = purge::vacuum(&mut conn, &receipt.xid, std::time::Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(vacuumed.older_transactions_left, 0, "{vacuumed:?}");

    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM chunk WHERE strpos(text, $1) > 0")
        .bind(secret)
        .fetch_one(&s.db.pool)
        .await
        .unwrap();
    let holders: Vec<(Option<String>, Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT datname::text, state, left(query, 80) FROM pg_stat_activity
         WHERE backend_xmin IS NOT NULL OR backend_xid IS NOT NULL",
    )
    .fetch_all(&s.db.pool)
    .await
    .unwrap();
    assert!(
        !contains(&heap().await),
        "after VACUUM FULL the chunk table's file no longer holds it (rows {rows}, snapshots {holders:?})"
    );
}

#[tokio::test]
async fn a_database_cut_in_the_middle_rolls_the_purge_back_and_says_so() {
    let s = setup().await;
    let (collection, _) = three_documents(&s).await;
    let before = row_counts(&s.db).await;
    // Hold alice's write lock, so the purge is caught inside its transaction.
    let observer = sqlx::PgPool::connect(&s.db.url).await.unwrap();
    let mut holder = observer.begin().await.unwrap();
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1::text || '/' || $2, 0))")
        .bind(collection.id)
        .bind("oss://corp-docs/alice.txt")
        .execute(&mut *holder)
        .await
        .unwrap();
    let holder_pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut *holder)
        .await
        .unwrap();
    let child = adbrag(&s.db)
        .args([
            "purge",
            "--collection",
            "docs",
            "--source",
            "oss://corp-docs/alice.txt",
        ])
        .args(["--actor", "dpo", "--yes"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    crate::harness::db::wait_for_advisory_waiters(&observer, 1).await;
    crate::harness::db::cut_connections(&s.db.name, holder_pid).await;
    holder.rollback().await.unwrap();
    let output = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();

    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("rolled back: nothing was removed"),
        "{stderr}"
    );
    assert_eq!(row_counts(&s.db).await, before, "nothing half-purged");
}

#[tokio::test]
async fn deleting_a_document_through_the_api_path_forgets_the_cache_entries_only_it_used() {
    let s = setup().await;
    let (collection, [alice, _, _]) = three_documents(&s).await;
    let cache_before = count(&s.db, "SELECT count(*) FROM embedding_cache").await;
    let mut conn = s.db.pool.acquire().await.unwrap();
    let outcome = adbrag::store::documents::delete(
        &mut conn,
        collection.id,
        "oss://corp-docs/alice.txt",
        Utc::now(),
    )
    .await
    .unwrap();
    assert!(matches!(
        outcome,
        adbrag::store::documents::DeleteOutcome::Deleted { document_id, .. } if document_id == alice
    ));
    assert_eq!(
        count(&s.db, "SELECT count(*) FROM embedding_cache").await,
        cache_before - 1,
        "alice's own paragraph's entry went; the shared one stayed"
    );
}

#[tokio::test]
async fn the_admin_api_purges_within_the_callers_tenant_only() {
    use adbrag::store::api_keys::Role;
    let app = crate::harness::TestApp::spawn(TestDb::migrated().await).await;
    let acme = app.key("acme", Role::Admin).await;
    let other = app.key("globex", Role::Admin).await;
    let writer = app.key("acme", Role::Writer).await;
    assert_eq!(
        crate::api::create_collection(&app, &acme, "hr")
            .await
            .status(),
        201
    );
    let uploaded: Value = crate::api::upload(
        &app,
        &acme,
        "hr",
        "e-1042.txt",
        "Employee E-1042 asked for parental leave in March.",
        json!({"subject-id": "E-1042"}),
    )
    .await
    .json()
    .await
    .unwrap();
    let id = uploaded["document_id"].as_str().unwrap().to_owned();
    crate::api::upload(
        &app,
        &acme,
        "hr",
        "e-7.txt",
        "Employee E-7 booked a flight.",
        json!({"subject-id": "E-7"}),
    )
    .await;
    let purge = |key: &str, body: Value| {
        app.http
            .post(app.url("/v1/admin/purge"))
            .bearer_auth(key)
            .json(&body)
            .send()
    };
    let body = json!({"collection": "hr", "where": {"subject-id": "E-1042"}, "reason": "DSR-1"});

    assert_eq!(purge(&writer, body.clone()).await.unwrap().status(), 403);
    // Another tenant's admin cannot even see the collection.
    assert_eq!(purge(&other, body.clone()).await.unwrap().status(), 404);
    let mut dry = body.clone();
    dry["dry_run"] = json!(true);
    let plan: Value = purge(&acme, dry).await.unwrap().json().await.unwrap();
    assert_eq!(plan["result"], "dry_run", "{plan}");
    assert_eq!(plan["documents"][0]["id"], id.as_str());
    let everything = purge(&acme, json!({"collection": "hr", "where": {}}))
        .await
        .unwrap();
    assert_eq!(everything.status(), 409);

    let done: Value = purge(&acme, body).await.unwrap().json().await.unwrap();
    assert_eq!(done["result"], "purged", "{done}");
    assert_eq!(done["verification"]["ok"], true, "{done}");
    assert_eq!(done["receipt"]["documents"], json!([id]));
    let actor: String = sqlx::query_scalar("SELECT actor FROM audit_log WHERE action = 'purge'")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert!(actor.starts_with("key:"), "{actor}");
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM document")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(left, 1, "E-7's document stays");
}

#[tokio::test]
async fn stats_counts_documents_chunks_jobs_and_sizes() {
    let s = setup().await;
    three_documents(&s).await;
    let output = adbrag(&s.db).args(["stats", "--json"]).output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stats: Value = serde_json::from_slice(&output.stdout).unwrap();
    let docs = &stats["collections"][0];
    assert_eq!(
        (
            docs["name"].as_str(),
            docs["documents_ready"].as_i64(),
            docs["chunks"].as_i64()
        ),
        (Some("docs"), Some(3), Some(6)),
        "{stats}"
    );
    assert_eq!(stats["embedding_cache_entries"], 4);
    assert_eq!(stats["jobs"], json!([["succeeded", 3]]));
    let chunk_table = stats["relations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "chunk")
        .expect("the chunk table is listed");
    assert!(chunk_table["bytes"].as_i64().unwrap() > 0);
    let text = adbrag(&s.db).arg("stats").output().unwrap();
    assert!(String::from_utf8_lossy(&text.stdout).contains("largest tables and indexes"));
}

/// Migration 0007 computes `chunk.embedding_sha256` for existing chunks in SQL; it must be the
/// hash the pipeline computes in Rust (`model_input`), or cache entries would be lost or kept
/// wrongly. The migration's own statement is run again on chunks whose hash was cleared.
#[tokio::test]
async fn migration_0007_hashes_existing_chunks_exactly_as_the_pipeline_does() {
    let s = setup().await;
    let collection = docs_collection(&s).await;
    let pipeline = s.queue.pipeline();
    let markdown = SourceObject {
        uri: "oss://corp-docs/guide.md".into(),
        file_name: Some("guide.md".into()),
        bytes: "# Staff guide\n\n## Leave\n\n### Sick leave\n\nTell your manager on the first day.\n\n## Travel\n\nBook through the desk."
            .as_bytes()
            .to_vec(),
        etag: None,
        modified: Utc.timestamp_opt(1_790_000_000, 0).unwrap(),
        metadata: json!({}),
        acl: vec![],
    };
    pipeline
        .ingest(&collection, markdown, "test")
        .await
        .unwrap();
    pipeline
        .ingest(
            &collection,
            text_object("plain.txt", &[paragraph("plain")], 1),
            "test",
        )
        .await
        .unwrap();
    let expected: Vec<(uuid::Uuid, Vec<u8>)> =
        sqlx::query_as("SELECT id, embedding_sha256 FROM chunk ORDER BY id")
            .fetch_all(&s.db.pool)
            .await
            .unwrap();
    assert!(expected.len() >= 3);

    let migration = include_str!("../../migrations/0007_tenant_cache.sql");
    let start = migration.find("UPDATE chunk c").unwrap();
    let update = &migration[start..start + migration[start..].find(";\n").unwrap()];
    sqlx::query("UPDATE chunk SET embedding_sha256 = NULL")
        .execute(&s.db.pool)
        .await
        .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(update.to_owned()))
        .execute(&s.db.pool)
        .await
        .unwrap();
    let recomputed: Vec<(uuid::Uuid, Vec<u8>)> =
        sqlx::query_as("SELECT id, embedding_sha256 FROM chunk ORDER BY id")
            .fetch_all(&s.db.pool)
            .await
            .unwrap();
    assert_eq!(recomputed, expected);
}
