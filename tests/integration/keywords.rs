//! The BM25 keyword leg against a real PostgreSQL: the statistics follow every write, replace and
//! delete in the same transaction (and forget a removed document's terms), concurrent writers that
//! share terms never deadlock, ranking weighs rare terms and chunk length as BM25 does, old chunks
//! are re-derived by migrate, bounded candidates are scored exactly, a filter gets its own top
//! however few of the best scores pass it, and queries the leg cannot use get an answer that says
//! so.

use std::sync::Arc;

use adbrag::{
    config::EmbeddingSettings,
    llm::{self, Embedder},
    search::retrieve::{self, Request},
    store::{
        collections::{self, Collection},
        dialect::Dimensions,
        documents::{self, NewChunk, NewDocument},
        keywords, schema,
        search::{self, Hit, Mode},
    },
    text::segment,
};
use chrono::{TimeZone, Utc};

use crate::{
    harness::{TestDb, openai::FakeOpenAi, search_settings},
    ingest::embedding_settings,
    store_collections::new_collection,
};

const DIMS: usize = 4;

fn document(collection: &Collection, uri: &str, second: i64, text: &str) -> NewDocument {
    NewDocument {
        collection_id: collection.id,
        source_uri: uri.into(),
        source_etag: None,
        source_time: Utc.timestamp_opt(1_700_000_000 + second, 0).unwrap(),
        content_sha256: adbrag::store::sha256(text),
        title: None,
        mime_type: Some("text/plain".into()),
        byte_size: text.len() as i64,
        metadata: serde_json::json!({}),
        acl: vec![],
    }
}

/// One chunk per paragraph (blank-line separated), keyword terms from the real analyzer.
fn chunks(text: &str, embedding: &[f32]) -> Vec<NewChunk> {
    text.split("\n\n")
        .map(|paragraph| NewChunk {
            text: paragraph.to_owned(),
            token_count: 10,
            page_from: None,
            page_to: None,
            heading_path: vec![],
            keywords: segment::keywords(paragraph),
            embedding_sha256: [0; 32],
            embedding: embedding.to_vec(),
        })
        .collect()
}

async fn write(db: &TestDb, collection: &Collection, uri: &str, second: i64, text: &str) {
    let mut conn = db.pool.acquire().await.unwrap();
    documents::replace(
        &mut conn,
        &document(collection, uri, second, text),
        &chunks(text, &[1.0, 0.0, 0.0, 0.0]),
    )
    .await
    .unwrap();
}

async fn collection(db: &TestDb, name: &str) -> Collection {
    let mut conn = db.pool.acquire().await.unwrap();
    collections::create(&mut conn, &new_collection("acme", name, DIMS as i64))
        .await
        .unwrap()
}

/// The stored statistics must equal what the postings say, for every collection.
async fn assert_statistics_match_postings(db: &TestDb) {
    let drift: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT coalesce(t.term, p.term), coalesce(t.chunks, 0)::bigint, coalesce(p.n, 0)
         FROM keyword_term t
         FULL OUTER JOIN (SELECT collection_id, term, count(*) AS n FROM keyword_posting
                          GROUP BY 1, 2) p
              ON p.collection_id = t.collection_id AND p.term = t.term
         WHERE t.chunks IS DISTINCT FROM p.n",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert!(drift.is_empty(), "term counts drifted: {drift:?}");
    let totals: Vec<(i64, i64, i64, i64)> = sqlx::query_as(
        "SELECT s.chunks, coalesce(c.n, 0), s.terms, coalesce(c.length, 0)
         FROM keyword_stats s
         LEFT JOIN (SELECT collection_id, count(*) AS n, sum(chunk_terms)::bigint AS length
                    FROM (SELECT DISTINCT collection_id, chunk_id, chunk_terms
                          FROM keyword_posting) d
                    GROUP BY 1) c ON c.collection_id = s.collection_id",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    for (chunks, expected_chunks, terms, expected_terms) in totals {
        assert_eq!((chunks, terms), (expected_chunks, expected_terms));
    }
    let orphans: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM keyword_posting p WHERE NOT EXISTS
             (SELECT 1 FROM chunk c WHERE c.id = p.chunk_id)",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(orphans, 0);
}

async fn term_count(db: &TestDb, term: &str) -> Option<i32> {
    sqlx::query_scalar("SELECT chunks FROM keyword_term WHERE term = $1")
        .bind(term)
        .fetch_optional(&db.pool)
        .await
        .unwrap()
}

fn query<'a>(collection: &Collection, terms: &'a [String]) -> search::Query<'a> {
    let settings = search_settings();
    search::Query {
        dialect: adbrag::store::dialect::Dialect::Pgvector,
        collection_id: collection.id,
        dimensions: Dimensions::new(DIMS as i64).unwrap(),
        embedding: None,
        terms,
        mode: Mode::Keyword,
        top_k: 10,
        candidates: 50,
        fusion: settings
            .options(adbrag::store::dialect::Dialect::Pgvector)
            .fusion,
        bm25: settings
            .options(adbrag::store::dialect::Dialect::Pgvector)
            .bm25,
        postings_per_term: 0,
        filter: None,
        principals: None,
    }
}

async fn keyword_search(db: &TestDb, collection: &Collection, text: &str) -> Vec<Hit> {
    let terms = segment::terms(text);
    search::hybrid(&db.pool, &query(collection, &terms))
        .await
        .unwrap()
}

#[tokio::test]
async fn statistics_follow_every_write_replace_and_delete() {
    let db = TestDb::migrated().await;
    let c = collection(&db, "stats").await;

    write(
        &db,
        &c,
        "file:///a.txt",
        1,
        "zebra crossing rules\n\nzebra habitat",
    )
    .await;
    write(&db, &c, "file:///b.txt", 1, "crossing the river").await;
    assert_statistics_match_postings(&db).await;
    assert_eq!(term_count(&db, "zebra").await, Some(2));
    assert_eq!(term_count(&db, "cross").await, Some(2));

    // A new version replaces the old terms whole.
    write(&db, &c, "file:///a.txt", 2, "giraffe feeding").await;
    assert_statistics_match_postings(&db).await;
    assert_eq!(term_count(&db, "zebra").await, None);
    assert_eq!(term_count(&db, "giraff").await, Some(1));
    assert_eq!(term_count(&db, "cross").await, Some(1));

    let mut conn = db.pool.acquire().await.unwrap();
    documents::delete(
        &mut conn,
        c.id,
        "file:///b.txt",
        Utc.timestamp_opt(1_700_000_100, 0).unwrap(),
    )
    .await
    .unwrap();
    assert_statistics_match_postings(&db).await;
    // No term that only the deleted document held stays stored.
    for term in ["cross", "river"] {
        assert_eq!(term_count(&db, term).await, None, "{term}");
    }
    let (chunks, terms): (i64, i64) =
        sqlx::query_as("SELECT chunks, terms FROM keyword_stats WHERE collection_id = $1")
            .bind(c.id)
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!((chunks, terms), (1, 2));
}

#[tokio::test]
async fn collections_keep_statistics_of_their_own() {
    let db = TestDb::migrated().await;
    let a = collection(&db, "one").await;
    let b = collection(&db, "two").await;
    write(&db, &a, "file:///x.txt", 1, "quokka").await;
    write(&db, &b, "file:///x.txt", 1, "quokka quokka wombat").await;

    let counts: Vec<(String, i32)> = sqlx::query_as(
        "SELECT term, chunks FROM keyword_term WHERE collection_id = $1 ORDER BY term",
    )
    .bind(a.id)
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(counts, [("quokka".to_owned(), 1)]);
    assert!(keyword_search(&db, &a, "wombat").await.is_empty());
    assert_eq!(keyword_search(&db, &b, "wombat").await.len(), 1);
}

#[tokio::test]
async fn concurrent_writers_sharing_terms_neither_deadlock_nor_drift() {
    let db = TestDb::migrated().await;
    let c = collection(&db, "busy").await;
    // Every document holds the same words in a different order, so the writers' term rows
    // overlap completely; each round replaces every document at once.
    let words = [
        "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf",
    ];
    for round in 0..4i64 {
        let tasks: Vec<_> = (0..8usize)
            .map(|d| {
                let pool = db.pool.clone();
                let collection = c.clone();
                let mut text: Vec<&str> = words.to_vec();
                text.rotate_left((d + round as usize) % words.len());
                let text = format!("{}\n\nround {round} doc {d}", text.join(" "));
                tokio::spawn(async move {
                    let mut conn = pool.acquire().await.unwrap();
                    documents::replace(
                        &mut conn,
                        &document(&collection, &format!("file:///{d}.txt"), round, &text),
                        &chunks(&text, &[1.0, 0.0, 0.0, 0.0]),
                    )
                    .await
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap().unwrap();
        }
    }
    assert_statistics_match_postings(&db).await;
    assert_eq!(term_count(&db, "alpha").await, Some(8));
    assert_eq!(term_count(&db, "round").await, Some(8));
}

#[tokio::test]
async fn a_rare_term_outweighs_a_common_one_repeated() {
    let db = TestDb::migrated().await;
    let c = collection(&db, "idf").await;
    // 空间 (space) is everywhere and one page repeats it; 磁盘 (disk) is the point of the question.
    for i in 0..12 {
        write(
            &db,
            &c,
            &format!("file:///common{i}.txt"),
            1,
            &format!("系统空间设置第{i}页"),
        )
        .await;
    }
    write(
        &db,
        &c,
        "file:///repeats.txt",
        1,
        "空间 空间 空间 空间 空间 空间 空间",
    )
    .await;
    write(&db, &c, "file:///disk.txt", 1, "检查磁盘空间是否足够").await;

    let hits = keyword_search(&db, &c, "磁盘空间不足怎么办").await;

    assert_eq!(hits[0].source_uri, "file:///disk.txt", "{hits:#?}");
    assert!(hits[0].keyword_score > hits[1].keyword_score);
}

#[tokio::test]
async fn bounded_candidates_are_scored_exactly_from_lists_and_probes() {
    let db = TestDb::migrated().await;
    let c = collection(&db, "bounded").await;
    // "kernel" and "module" are in every chunk, with counts and lengths that differ, so each has
    // more postings than the bound; "firmware" is rare and read whole. With 3 postings per term a
    // candidate comes from a common term's list (its counts read there), from the rare term, or
    // from both lists, and what no list held is probed.
    for i in 0..12usize {
        let kernel = "kernel ".repeat(1 + i % 4);
        let module = "module ".repeat(1 + (i * 7) % 5);
        let filler = "text ".repeat(i % 6);
        let firmware = if i % 5 == 0 { "firmware" } else { "" };
        write(
            &db,
            &c,
            &format!("file:///{i}.txt"),
            1,
            &format!("{kernel}{module}{filler}{firmware}"),
        )
        .await;
    }
    let terms = segment::terms("kernel module firmware");
    let all = search::Query {
        top_k: 12,
        ..query(&c, &terms)
    };
    let exhaustive = search::hybrid(&db.pool, &all).await.unwrap();
    assert_eq!(exhaustive.len(), 12, "{exhaustive:#?}");
    let bounded = search::hybrid(
        &db.pool,
        &search::Query {
            postings_per_term: 3,
            ..all
        },
    )
    .await
    .unwrap();

    // Fewer candidates, each with its exact score: every common term counted once.
    assert!(bounded.len() < exhaustive.len(), "{bounded:#?}");
    for hit in &bounded {
        let exact = exhaustive
            .iter()
            .find(|e| e.chunk_id == hit.chunk_id)
            .unwrap_or_else(|| panic!("{} is not among the exhaustive hits", hit.source_uri));
        let (got, want) = (hit.keyword_score.unwrap(), exact.keyword_score.unwrap());
        assert!(
            (got - want).abs() < 1e-9,
            "{}: {got} != {want}",
            hit.source_uri
        );
    }
    // The chunks holding the rare term lead both rankings, in the same order.
    let uris = |hits: &[Hit]| -> Vec<String> {
        hits.iter().take(3).map(|h| h.source_uri.clone()).collect()
    };
    assert_eq!(uris(&bounded), uris(&exhaustive));
    assert!(exhaustive[..3].iter().all(|h| h.text.contains("firmware")));
}

#[tokio::test]
async fn a_filter_gets_its_own_top_whether_few_or_many_of_the_best_scores_pass_it() {
    let db = TestDb::migrated().await;
    let c = collection(&db, "scoped").await;
    // Eighteen "ops" chunks say "kernel" often; six "hr" chunks say it once, in longer text, so
    // every "hr" score is below every "ops" score.
    for i in 0..24usize {
        let (team, text) = if i < 6 {
            ("hr", format!("kernel {}", "text ".repeat(3 + i)))
        } else {
            (
                "ops",
                format!("{}{}", "kernel ".repeat(2 + i % 5), "text ".repeat(i % 3)),
            )
        };
        let uri = format!("file:///{i}.txt");
        let mut conn = db.pool.acquire().await.unwrap();
        documents::replace(
            &mut conn,
            &NewDocument {
                metadata: serde_json::json!({ "team": team }),
                ..document(&c, &uri, 1, &text)
            },
            &chunks(&text, &[1.0, 0.0, 0.0, 0.0]),
        )
        .await
        .unwrap();
    }
    let terms = segment::terms("kernel");
    let everything = search::hybrid(
        &db.pool,
        &search::Query {
            top_k: 24,
            ..query(&c, &terms)
        },
    )
    .await
    .unwrap();
    assert_eq!(everything.len(), 24);
    let team_of = |hit: &Hit| {
        let i: usize = hit.source_uri["file:///".len()..]
            .trim_end_matches(".txt")
            .parse()
            .unwrap();
        if i < 6 { "hr" } else { "ops" }
    };

    // With 3 candidates the leg scopes the best 6 scores: none of them is "hr" (so the leg must
    // rank every scored chunk in scope), and more than 3 are "ops" (so it stops after 3).
    let best_six: Vec<&str> = everything[..6].iter().map(team_of).collect();
    assert!(best_six.iter().all(|t| *t == "ops"), "{best_six:?}");
    for team in ["hr", "ops"] {
        let filter =
            adbrag::search::filter::Filter::parse(&serde_json::json!({ "team": team })).unwrap();
        let scoped = search::hybrid(
            &db.pool,
            &search::Query {
                candidates: 3,
                filter: Some(&filter),
                ..query(&c, &terms)
            },
        )
        .await
        .unwrap();
        let want: Vec<&str> = everything
            .iter()
            .filter(|h| team_of(h) == team)
            .take(3)
            .map(|h| h.source_uri.as_str())
            .collect();
        let got: Vec<&str> = scoped.iter().map(|h| h.source_uri.as_str()).collect();
        assert_eq!(got, want, "team {team}: {scoped:#?}");
    }
}

#[tokio::test]
async fn a_long_page_that_mentions_everything_ranks_below_a_focused_one() {
    let db = TestDb::migrated().await;
    let c = collection(&db, "length").await;
    let index_page: String = (0..300).map(|i| format!("entry{i} ")).collect::<String>()
        + "kernel module loading firmware";
    write(&db, &c, "file:///index.txt", 1, &index_page).await;
    write(
        &db,
        &c,
        "file:///modules.txt",
        1,
        "Loading a kernel module with modprobe",
    )
    .await;
    for i in 0..5 {
        write(
            &db,
            &c,
            &format!("file:///other{i}.txt"),
            1,
            &format!("unrelated text {i}"),
        )
        .await;
    }

    let hits = keyword_search(&db, &c, "how do I load a kernel module").await;

    assert_eq!(hits[0].source_uri, "file:///modules.txt", "{hits:#?}");
    assert_eq!(hits[1].source_uri, "file:///index.txt");
}

#[tokio::test]
async fn stems_and_identifier_parts_meet_at_query_time() {
    let db = TestDb::migrated().await;
    let c = collection(&db, "stems").await;
    write(
        &db,
        &c,
        "file:///vacuum.txt",
        1,
        "Vacuuming reclaims storage",
    )
    .await;
    write(
        &db,
        &c,
        "file:///pool.txt",
        1,
        "Set max_connections_per_host in pool.conf",
    )
    .await;
    write(&db, &c, "file:///noise.txt", 1, "nothing to see here").await;

    let by_stem = keyword_search(&db, &c, "vacuum").await;
    let whole = keyword_search(&db, &c, "max_connections_per_host").await;
    let part = keyword_search(&db, &c, "connections per host").await;

    assert_eq!(by_stem[0].source_uri, "file:///vacuum.txt");
    assert_eq!(whole[0].source_uri, "file:///pool.txt");
    assert_eq!(part[0].source_uri, "file:///pool.txt");
    // The whole identifier is a term of its own, rarer than its parts: it scores higher.
    assert!(whole[0].keyword_score > part[0].keyword_score);
}

#[tokio::test]
async fn migrate_rederives_the_terms_of_chunks_stored_by_an_older_analyzer() {
    let db = TestDb::migrated().await;
    let c = collection(&db, "old").await;
    write(
        &db,
        &c,
        "file:///a.txt",
        1,
        "Updating packages\n\nupdates and upgrades",
    )
    .await;
    // What a database from before migration 0005 looks like: no postings, no statistics.
    for statement in [
        "DELETE FROM keyword_posting",
        "DELETE FROM keyword_term",
        "DELETE FROM keyword_stats",
        "UPDATE chunk SET analyzer_version = 0",
    ] {
        sqlx::query(statement).execute(&db.pool).await.unwrap();
    }
    let refused = schema::require_ready(&db.pool, None).await.unwrap_err();
    assert!(refused.to_string().contains("adbrag migrate"), "{refused}");

    let mut conn = db.pool.acquire().await.unwrap();
    let rederived = keywords::reindex_stale(&mut conn, |_, _, text| segment::keywords(text))
        .await
        .unwrap();

    assert_eq!(rederived, 2);
    schema::require_ready(&db.pool, None).await.unwrap();
    assert_statistics_match_postings(&db).await;
    assert_eq!(term_count(&db, "updat").await, Some(2));
    assert_eq!(keyword_search(&db, &c, "update").await.len(), 2);
    // A second run finds nothing to do.
    assert_eq!(
        keywords::reindex_stale(&mut conn, |_, _, text| segment::keywords(text))
            .await
            .unwrap(),
        0
    );
}

async fn api_collection(db: &TestDb, embedder: &dyn Embedder) -> Collection {
    let mut conn = db.pool.acquire().await.unwrap();
    let mut new = new_collection("acme", "api", embedder.dimensions() as i64);
    new.embedding_model = embedder.model().to_owned();
    let collection = collections::create(&mut conn, &new).await.unwrap();
    for (i, text) in [
        "Annual leave is twenty days a year.",
        "员工每年享有二十天带薪年假。",
        "Expense claims are paid monthly.",
    ]
    .iter()
    .enumerate()
    {
        let embedding = embedder.embed(&[(*text).to_owned()]).await.unwrap();
        documents::replace(
            &mut conn,
            &document(&collection, &format!("file:///{i}.txt"), 1, text),
            &chunks(text, &embedding[0]),
        )
        .await
        .unwrap();
    }
    collection
}

async fn search(
    db: &TestDb,
    embedder: &dyn Embedder,
    collection: &Collection,
    query: &str,
) -> retrieve::Results {
    retrieve::search(
        &db.pool,
        embedder,
        None,
        collection,
        &Request {
            query: query.to_owned(),
            top_k: 5,
            mode: Mode::Hybrid,
            filter: None,
            principals: None,
        },
        &search_settings().options(adbrag::store::dialect::Dialect::Pgvector),
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn queries_the_keyword_leg_cannot_use_get_vector_results_and_say_why() {
    let db = TestDb::migrated().await;
    let fake = FakeOpenAi::start().await;
    let settings = EmbeddingSettings {
        dimensions: 8,
        ..embedding_settings(&fake)
    };
    let embedder: Arc<dyn Embedder> = llm::embedder(&settings.config().unwrap()).unwrap();
    let c = api_collection(&db, embedder.as_ref()).await;

    let stop_words = search(&db, embedder.as_ref(), &c, "what is the").await;
    let long_term = search(&db, embedder.as_ref(), &c, &"x".repeat(2048)).await;
    let unseen = search(&db, embedder.as_ref(), &c, "연차 휴가는 며칠입니까").await;
    let many_terms: String = (0..600).map(|i| format!("w{i} ")).collect();
    let many = search(&db, embedder.as_ref(), &c, many_terms.trim()).await;

    for (name, results) in [("stop words", &stop_words), ("2 KB term", &long_term)] {
        assert!(results.keyword_terms.is_empty(), "{name}");
        assert!(!results.hits.is_empty(), "{name}: vector results expected");
        assert!(
            results.notes.iter().any(|n| n.contains("no keyword terms")),
            "{name}: {:?}",
            results.notes
        );
    }
    assert!(!unseen.hits.is_empty());
    assert!(
        unseen
            .notes
            .iter()
            .any(|n| n.contains("holds any of the query's keyword terms")),
        "{:?}",
        unseen.notes
    );
    assert!(many.keyword_terms.len() >= 600);
    assert!(!many.hits.is_empty());
}

#[tokio::test]
async fn a_chinese_query_leans_on_the_keyword_leg_when_the_embedder_reads_english_only() {
    let db = TestDb::migrated().await;
    let (_, embedder) = crate::ingest::local_embedder().await;
    assert!(!embedder.reads_chinese());
    let c = api_collection(&db, embedder.as_ref()).await;

    let chinese = search(&db, embedder.as_ref(), &c, "年假有几天").await;
    let english = search(&db, embedder.as_ref(), &c, "how many days of annual leave").await;
    let unmatched = search(&db, embedder.as_ref(), &c, "报销").await;

    assert_eq!(chinese.hits[0].source_uri, "file:///1.txt");
    assert!(chinese.hits.iter().all(|h| h.vector_rank.is_none()));
    assert_eq!(chinese.fusion.vector_weight, 0.0);
    assert!(
        chinese
            .notes
            .iter()
            .any(|n| n.contains("does not read Chinese")),
        "{:?}",
        chinese.notes
    );
    assert!(english.notes.is_empty(), "{:?}", english.notes);
    assert!(english.hits.iter().any(|h| h.vector_rank.is_some()));
    // Nothing matches by keyword: the vector leg runs after all rather than return nothing.
    assert!(!unmatched.hits.is_empty());
    assert!(
        unmatched
            .notes
            .iter()
            .any(|n| n.contains("vector leg ran after all")),
        "{:?}",
        unmatched.notes
    );
}

#[tokio::test]
async fn a_configured_reranker_reorders_the_hits_and_a_failing_one_leaves_hybrid_order() {
    use crate::harness::rerank::{FakeRerank, Fault, fake_order};
    let db = TestDb::migrated().await;
    let fake = FakeOpenAi::start().await;
    let settings = EmbeddingSettings {
        dimensions: 8,
        ..embedding_settings(&fake)
    };
    let embedder: Arc<dyn Embedder> = llm::embedder(&settings.config().unwrap()).unwrap();
    let c = api_collection(&db, embedder.as_ref()).await;
    let rerank = FakeRerank::start().await;
    let mut search_settings = search_settings();
    search_settings.rerank.base_url = Some(rerank.base_url());
    search_settings.rerank.api_key = Some("sk-test".to_owned().into());
    let reranker = llm::rerank::reranker(&search_settings.rerank.settings())
        .unwrap()
        .expect("a base URL turns reranking on");
    async fn run(
        db: &TestDb,
        embedder: &dyn Embedder,
        reranker: Option<&dyn llm::rerank::Reranker>,
        c: &Collection,
        settings: &adbrag::config::SearchSettings,
    ) -> retrieve::Results {
        retrieve::search(
            &db.pool,
            embedder,
            reranker,
            c,
            &Request {
                query: "is it a claim".to_owned(),
                top_k: 3,
                mode: Mode::Hybrid,
                filter: None,
                principals: None,
            },
            &settings.options(adbrag::store::dialect::Dialect::Pgvector),
        )
        .await
        .unwrap()
    }

    let e = embedder.as_ref();
    let hybrid = run(&db, e, None, &c, &search_settings).await;
    let reranked = run(&db, e, Some(reranker.as_ref()), &c, &search_settings).await;
    rerank.push_fault(Fault::MalformedBody);
    let failed = run(&db, e, Some(reranker.as_ref()), &c, &search_settings).await;

    let texts: Vec<String> = hybrid.hits.iter().map(|h| h.text.clone()).collect();
    let expected: Vec<&str> = fake_order("is it a claim", &texts)
        .into_iter()
        .map(|i| texts[i].as_str())
        .collect();
    let order = |r: &retrieve::Results| r.hits.iter().map(|h| h.text.clone()).collect::<Vec<_>>();
    assert_eq!(order(&reranked), expected);
    let report = reranked.rerank.as_ref().unwrap();
    assert!(report.applied && report.error.is_none(), "{report:?}");
    assert!(reranked.timings.rerank_ms > 0.0);
    assert_eq!(
        order(&failed),
        texts,
        "a failed rerank keeps the hybrid order"
    );
    assert!(!failed.rerank.as_ref().unwrap().applied);
    assert!(
        failed.notes.iter().any(|n| n.contains("reranking failed")),
        "{:?}",
        failed.notes
    );
    assert!(hybrid.rerank.is_none());
}
