//! Metadata filters against a real PostgreSQL: each operator selects the rows it should from a
//! table of ordinary, wrong-typed and hostile metadata, never raises an SQL error, and never lets
//! client text act as SQL.

use adbrag::search::filter::{DATE_PATTERN, Filter, FilterError};
use chrono::NaiveDate;
use serde_json::{Value, json};
use sqlx::{PgPool, Postgres, QueryBuilder, Row};

use crate::harness::TestDb;

/// `d(id, metadata)`: thirteen documents, several with values of the wrong type, malformed
/// dates, SQL-looking strings and keys, and one whose metadata is SQL NULL.
async fn fixture() -> TestDb {
    let db = TestDb::empty().await;
    sqlx::query("CREATE TABLE d (id int PRIMARY KEY, metadata jsonb)")
        .execute(&db.pool)
        .await
        .unwrap();
    let rows: Vec<(i32, Option<Value>)> = vec![
        (
            1,
            Some(
                json!({"team": "hr", "year": 2020, "published": "2024-01-15", "confidential": false,
                        "tags": ["policy", "leave"], "owner": {"name": "ana", "level": 3}}),
            ),
        ),
        (
            2,
            Some(
                json!({"team": "legal", "year": 2023, "published": "2024-06-30T23:59:59Z",
                        "confidential": true, "owner": {"name": "bo", "level": 5}}),
            ),
        ),
        (
            3,
            Some(
                json!({"team": "eng", "year": "n/a", "published": "2024-13-45",
                        "owner": {"name": "cy", "level": "senior"}}),
            ),
        ),
        (
            4,
            Some(json!({"team": "x'; DROP TABLE d; --", "year": 2024.5,
                        "published": "2024-07-01T08:00:00+08:00"})),
        ),
        (
            5,
            Some(json!({"a') OR 1=1 --": 1, "team": null, "year": null, "published": null})),
        ),
        (
            6,
            Some(
                json!({"team": ["hr", "legal"], "year": [2020], "published": 20240101,
                        "owner": [{"name": "ana"}]}),
            ),
        ),
        (7, Some(json!({}))),
        (
            8,
            Some(
                json!({"team": "HR", "year": "2021", "published": "2023-02-29", "owner": {"name": "ana "}}),
            ),
        ),
        (
            9,
            Some(
                json!({"team": "hr", "year": 2025, "published": "2024-02-29T12:00:00.123456789Z",
                        "owner": "nobody", "confidential": "false"}),
            ),
        ),
        (
            10,
            Some(
                json!({"team": "finance", "year": 1e3, "published": "0000-01-01",
                         "owner": {"level": "high"}}),
            ),
        ),
        (
            11,
            Some(
                json!({"team": "eng", "year": true, "published": "2024-02-30",
                         "nested": {"deep": {"x": 1}}}),
            ),
        ),
        (
            12,
            Some(json!({"team": "eng", "year": 2020.0, "published": "2024-12-31 23:00:00-02:00"})),
        ),
        (13, None),
    ];
    for (id, metadata) in rows {
        sqlx::query("INSERT INTO d (id, metadata) VALUES ($1, $2)")
            .bind(id)
            .bind(metadata)
            .execute(&db.pool)
            .await
            .unwrap();
    }
    db
}

fn select(filter: &Filter) -> QueryBuilder<Postgres> {
    let mut qb = QueryBuilder::new("SELECT d.id FROM d WHERE ");
    filter.push_sql(&mut qb, "d.metadata");
    qb.push(" ORDER BY d.id");
    qb
}

async fn ids(pool: &PgPool, filter: Value) -> Vec<i32> {
    let parsed = Filter::parse(&filter).unwrap_or_else(|err| panic!("{filter}: {err}"));
    let mut qb = select(&parsed);
    qb.build_query_scalar::<i32>()
        .fetch_all(pool)
        .await
        .unwrap_or_else(|err| panic!("{filter} raised {err}"))
}

async fn rows_in_d(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM d")
        .fetch_one(pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn every_operator_selects_the_documents_it_should() {
    let db = fixture().await;
    let cases: Vec<(Value, Vec<i32>)> = vec![
        (json!({}), (1..=13).collect()),
        // Equality is exact: no case folding, no array membership, no string/number coercion.
        (json!({"team": "hr"}), vec![1, 9]),
        (json!({"team": {"$eq": "hr"}}), vec![1, 9]),
        (
            json!({"team": {"$ne": "hr"}}),
            vec![2, 3, 4, 5, 6, 7, 8, 10, 11, 12, 13],
        ),
        (json!({"team": {"$in": ["hr", "legal"]}}), vec![1, 2, 9]),
        (
            json!({"team": {"$nin": ["hr", "legal"]}}),
            vec![3, 4, 5, 6, 7, 8, 10, 11, 12, 13],
        ),
        (json!({"team": {"$in": []}}), vec![]),
        (json!({"team": {"$nin": []}}), (1..=13).collect()),
        (json!({"year": 2020}), vec![1, 12]),
        (json!({"year": "2021"}), vec![8]),
        (json!({"confidential": false}), vec![1]),
        (json!({"confidential": true}), vec![2]),
        (json!({"team": "eng", "year": 2020}), vec![12]),
        // Number ranges: only JSON numbers take part, compared exactly as numeric.
        (
            json!({"year": {"$gte": 2020, "$lt": 2025}}),
            vec![1, 2, 4, 12],
        ),
        (json!({"year": {"$gt": 2024}}), vec![4, 9]),
        (json!({"year": {"$lt": 2024.5}}), vec![1, 2, 10, 12]),
        (json!({"year": {"$lte": 2024.5}}), vec![1, 2, 4, 10, 12]),
        (json!({"year": {"$lte": 1000}}), vec![10]),
        // Date ranges: instants, offsets honoured; malformed or impossible dates never match.
        (
            json!({"published": {"$gte": "2024-01-01", "$lt": "2024-07-01T00:00:00Z"}}),
            vec![1, 2, 9],
        ),
        (json!({"published": {"$gte": "2024-07-01"}}), vec![4, 12]),
        (
            json!({"published": {"$lte": "2024-07-01T08:00:00+08:00"}}),
            vec![1, 2, 4, 9],
        ),
        (
            json!({"published": {"$gt": "2025-01-01T00:59:59Z"}}),
            vec![12],
        ),
        (
            json!({"published": {"$lt": "2025-01-01T01:00:00Z"}}),
            vec![1, 2, 4, 9],
        ),
        (json!({"published": {"$lt": "2000-01-01"}}), vec![]),
        // PostgreSQL keeps microseconds: .123456789 is stored as .123457.
        (
            json!({"published": {"$gt": "2024-02-29T12:00:00.123Z"}}),
            vec![2, 4, 9, 12],
        ),
        (
            json!({"published": {"$lt": "2024-02-29T12:00:00.124Z"}}),
            vec![1, 9],
        ),
        // Nested paths.
        (json!({"owner.name": "ana"}), vec![1]),
        (json!({"owner.level": {"$gte": 3}}), vec![1, 2]),
        (json!({"owner.level": {"$exists": true}}), vec![1, 2, 3, 10]),
        (
            json!({"owner": {"$exists": false}}),
            vec![4, 5, 7, 11, 12, 13],
        ),
        (
            json!({"team": {"$exists": true}}),
            vec![1, 2, 3, 4, 5, 6, 8, 9, 10, 11, 12],
        ),
        (json!({"nested.deep.x": 1}), vec![11]),
        (json!({"nested.deep.x": {"$gt": 0}}), vec![11]),
        (json!({"nested.deep": {"$exists": true}}), vec![11]),
        // Logic.
        (
            json!({"$or": [{"team": "legal"}, {"year": {"$gt": 2024}}]}),
            vec![2, 4, 9],
        ),
        (
            json!({"$and": [{"team": "hr"}, {"year": {"$lt": 2025}}]}),
            vec![1],
        ),
        (
            json!({"$not": {"year": {"$gte": 2020}}}),
            vec![3, 5, 6, 7, 8, 10, 11, 13],
        ),
        (
            json!({"$not": {"team": "hr"}}),
            vec![2, 3, 4, 5, 6, 7, 8, 10, 11, 12, 13],
        ),
        (
            json!({"team": {"$in": ["eng", "hr"]}, "$not": {"year": {"$gte": 2020}}}),
            vec![3, 11],
        ),
        (
            json!({"$not": {"$or": [{"team": "eng"}, {"$not": {"owner.level": {"$exists": true}}}]}}),
            vec![1, 2, 10],
        ),
        (json!({"$not": {}}), vec![]),
    ];
    for (filter, expected) in cases {
        assert_eq!(ids(&db.pool, filter.clone()).await, expected, "{filter}");
    }
}

#[tokio::test]
async fn wrong_typed_and_malformed_values_make_a_condition_false_never_an_error() {
    let db = fixture().await;
    let fields = [
        "team",
        "year",
        "published",
        "owner",
        "owner.name",
        "owner.level",
        "tags",
        "tags.0",
        "confidential",
        "nested.deep.x",
        "nested.deep.x.y",
        "missing",
        "owner.name.first",
    ];
    let operands = [
        ("$eq", json!("hr")),
        ("$eq", json!(2020)),
        ("$ne", json!(false)),
        ("$in", json!(["hr", 1, true, "2024-01-01"])),
        ("$nin", json!(["legal", 2.5])),
        ("$gt", json!(0)),
        ("$gte", json!(-1.5e10)),
        ("$lt", json!(99999999999999999999u128 as f64)),
        ("$lte", json!("2024-02-29")),
        ("$gt", json!("1999-12-31T23:59:59.999999999-15:59")),
        ("$exists", json!(true)),
        ("$exists", json!(false)),
    ];
    for field in fields {
        for (operator, operand) in &operands {
            let filter = json!({ field: { *operator: operand.clone() } });
            ids(&db.pool, filter.clone()).await;
            ids(&db.pool, json!({"$not": filter})).await;
        }
    }
    // The rows that would break a naive cast are really there, and simply do not match.
    assert_eq!(ids(&db.pool, json!({"year": "n/a"})).await, vec![3]);
    assert_eq!(
        ids(&db.pool, json!({"published": "2024-13-45"})).await,
        vec![3]
    );
    assert_eq!(
        ids(&db.pool, json!({"year": {"$gt": -1e300}})).await,
        vec![1, 2, 4, 9, 10, 12]
    );
}

#[tokio::test]
async fn injection_looking_keys_are_refused_and_values_are_matched_literally() {
    let db = fixture().await;
    assert!(matches!(
        Filter::parse(&json!({"a') OR 1=1 --": 1})),
        Err(FilterError::InvalidField { .. })
    ));
    for key in [
        "team'--",
        "team\"",
        "team;",
        "team)",
        "team #> '{}'",
        "team\u{0}",
        "$team",
    ] {
        assert!(Filter::parse(&json!({ key: 1 })).is_err(), "{key:?}");
    }
    let hostile = "x'; DROP TABLE d; --";
    assert_eq!(ids(&db.pool, json!({"team": hostile})).await, vec![4]);
    assert_eq!(
        ids(&db.pool, json!({"team": {"$in": [hostile, "' OR '1'='1"]}})).await,
        vec![4]
    );
    assert_eq!(
        ids(
            &db.pool,
            json!({"team": {"$nin": [hostile]}, "year": {"$gt": 2024}})
        )
        .await,
        vec![9]
    );
    assert_eq!(
        ids(&db.pool, json!({"team": "' OR '1'='1"})).await,
        Vec::<i32>::new()
    );
    assert_eq!(
        ids(&db.pool, json!({"team": "hr\\' OR 1=1 --"})).await,
        Vec::<i32>::new()
    );
    assert_eq!(
        ids(&db.pool, json!({"team": "$1"})).await,
        Vec::<i32>::new()
    );
    // Values are never SQL text: the statement holds none of them.
    let sql = select(&Filter::parse(&json!({"team": hostile})).unwrap()).into_string();
    assert!(!sql.contains("DROP"), "{sql}");
    // The table is still there, whole.
    assert_eq!(rows_in_d(&db.pool).await, 13);
    let exists: bool = sqlx::query_scalar("SELECT to_regclass('public.d') IS NOT NULL")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert!(exists);
}

#[tokio::test]
async fn the_date_pattern_admits_exactly_the_dates_postgres_can_cast() {
    let db = TestDb::empty().await;
    // Every year/month/day combination around the edges: month and day 0 to overflow, the leap
    // year rules (1900 and 2100 are not leap years, 2000 and 2400 are), year 0000.
    let years = [
        0, 1, 4, 99, 100, 400, 1582, 1600, 1900, 1996, 2000, 2023, 2024, 2100, 2400, 9996, 9999,
    ];
    let mut candidates = Vec::new();
    let mut valid = Vec::new();
    for year in years {
        for month in 0..=13u32 {
            for day in 0..=32u32 {
                candidates.push(format!("{year:04}-{month:02}-{day:02}"));
                valid.push(year > 0 && NaiveDate::from_ymd_opt(year, month, day).is_some());
            }
        }
    }
    let times = [
        ("2024-05-06T00:00:00Z", true),
        ("2024-05-06t23:59:59z", true),
        ("2024-05-06 12:30:45.5+08:00", true),
        ("2024-05-06T12:30:45.123456789-15:59", true),
        ("2024-05-06T12:30:45+14:00", true),
        ("2024-05-06T24:00:00Z", false),
        ("2024-05-06T23:60:00Z", false),
        ("2024-05-06T23:59:60Z", false),
        ("2024-05-06T12:30:45+16:00", false),
        ("2024-05-06T12:30:45", false),
        ("2024-05-06T12:30Z", false),
        ("2024-05-06T12:30:45.Z", false),
        ("2024-05-06T12:30:45.1234567890Z", false),
        ("2024-05-06Z", false),
        ("2024-05-06\n", false),
        (" 2024-05-06", false),
        ("20240506", false),
        ("+2024-05-06", false),
        ("12024-05-06", false),
        ("2024-5-6", false),
        ("２０２４-05-06", false),
    ];
    for (text, ok) in times {
        candidates.push(text.to_owned());
        valid.push(ok);
    }
    let mut qb = QueryBuilder::<Postgres>::new("SELECT s, s ~ '");
    qb.push(DATE_PATTERN);
    qb.push("' AS matches FROM unnest(");
    qb.push_bind(&candidates);
    qb.push("::text[]) WITH ORDINALITY AS c(s, n) ORDER BY n");
    let rows = qb.build().fetch_all(&db.pool).await.unwrap();
    assert_eq!(rows.len(), candidates.len());
    for (row, ok) in rows.iter().zip(&valid) {
        let text: String = row.get("s");
        let matches: bool = row.get("matches");
        assert_eq!(matches, *ok, "{text:?}");
    }
    // And everything that matches really casts, one statement for all of them.
    let matching: Vec<String> = candidates
        .iter()
        .zip(&valid)
        .filter(|(_, ok)| **ok)
        .map(|(s, _)| s.clone())
        .collect();
    let cast: i64 = sqlx::query_scalar::<_, i64>(
        "SELECT count((CASE WHEN length(s) = 10 THEN s || 'T00:00:00Z' ELSE s END)::timestamptz) FROM unnest($1::text[]) AS s",
    )
    .bind(&matching)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(cast as usize, matching.len());
}

#[tokio::test]
async fn equality_and_in_are_served_by_the_gin_jsonb_path_ops_index() {
    let db = fixture().await;
    let mut conn = db.pool.acquire().await.unwrap();
    sqlx::query("CREATE INDEX d_metadata_idx ON d USING gin (metadata jsonb_path_ops)")
        .execute(&mut *conn)
        .await
        .unwrap();
    // Thirteen rows would be scanned sequentially anyway; forbid that to see the index is usable.
    sqlx::query("SET enable_seqscan = off")
        .execute(&mut *conn)
        .await
        .unwrap();
    for filter in [
        json!({"team": "hr"}),
        json!({"owner.name": "ana", "team": {"$in": ["hr", "eng"]}}),
    ] {
        let parsed = Filter::parse(&filter).unwrap();
        let mut qb = QueryBuilder::<Postgres>::new("EXPLAIN SELECT d.id FROM d WHERE ");
        parsed.push_sql(&mut qb, "d.metadata");
        let plan: Vec<String> = qb.build_query_scalar().fetch_all(&mut *conn).await.unwrap();
        let plan = plan.join("\n");
        assert!(
            plan.contains("Bitmap Index Scan on d_metadata_idx"),
            "{filter}:\n{plan}"
        );
    }
}
