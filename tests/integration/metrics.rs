//! `GET /metrics` as a production scraper reads it: the standard `process_*` series, how long
//! taking a database connection waited, and the ingest pipeline's stage timings.

use std::{
    collections::HashMap,
    time::{SystemTime, UNIX_EPOCH},
};

use adbrag::store::api_keys::Role;
use serde_json::json;

use crate::{
    api::{create_collection, upload},
    harness::{TestApp, TestDb},
};

/// One scrape: every sample by its series (`name{labels}`), and the exposition's text.
struct Scrape {
    samples: HashMap<String, f64>,
    text: String,
}

impl Scrape {
    async fn of(app: &TestApp) -> Self {
        let response = app.http.get(app.url("/metrics")).send().await.unwrap();
        assert_eq!(response.status(), 200);
        let text = response.text().await.unwrap();
        assert!(
            text.ends_with("# EOF\n"),
            "the exposition is not complete:\n{text}"
        );
        let samples = text
            .lines()
            .filter(|line| !line.starts_with('#') && !line.is_empty())
            .map(|line| {
                let (series, value) = line
                    .rsplit_once(' ')
                    .unwrap_or_else(|| panic!("a sample line without a value: {line}"));
                let value = value
                    .parse::<f64>()
                    .unwrap_or_else(|_| panic!("not a number in {line}"));
                (series.to_owned(), value)
            })
            .collect();
        Self { samples, text }
    }

    fn value(&self, series: &str) -> f64 {
        *self
            .samples
            .get(series)
            .unwrap_or_else(|| panic!("no sample {series} in:\n{}", self.text))
    }

    fn declares(&self, metric: &str, kind: &str) {
        let line = format!("# TYPE {metric} {kind}\n");
        assert!(
            self.text.contains(&line),
            "missing {line:?} in:\n{}",
            self.text
        );
    }
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[tokio::test]
async fn a_scrape_after_an_upload_reports_the_process_pool_waits_and_every_ingest_stage() {
    let app = TestApp::spawn(TestDb::migrated().await).await;
    let admin = app.key("acme", Role::Admin).await;
    assert_eq!(create_collection(&app, &admin, "hr").await.status(), 201);
    let text = "# Leave\n\nEmployees get twenty days of paid annual leave each year.";
    let response = upload(&app, &admin, "hr", "leave.md", text, json!({})).await;
    assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());

    let scrape = Scrape::of(&app).await;

    // The process, read from /proc/self.
    if cfg!(target_os = "linux") {
        scrape.declares("process_resident_memory_bytes", "gauge");
        scrape.declares("process_virtual_memory_bytes", "gauge");
        scrape.declares("process_cpu_seconds", "counter");
        scrape.declares("process_open_fds", "gauge");
        scrape.declares("process_max_fds", "gauge");
        scrape.declares("process_start_time_seconds", "gauge");
        let resident = scrape.value("process_resident_memory_bytes");
        assert!(resident > 1024.0 * 1024.0, "resident memory {resident}");
        assert!(scrape.value("process_virtual_memory_bytes") >= resident);
        assert!(scrape.value("process_cpu_seconds_total") > 0.0);
        let open = scrape.value("process_open_fds");
        assert!(open >= 3.0, "open fds {open}");
        assert!(scrape.value("process_max_fds") >= open);
        let started = scrape.value("process_start_time_seconds");
        let now = now();
        assert!(
            started <= now + 1.0 && started > now - 86_400.0,
            "start time {started} is not within the last day of {now}"
        );
    }

    // Each stage ran once, for the one document this app ingested (the pipeline is the app's own).
    scrape.declares("adbrag_ingest_stage_seconds", "histogram");
    for stage in ["parse", "chunk", "embed", "write"] {
        let count = scrape.value(&format!(
            "adbrag_ingest_stage_seconds_count{{stage=\"{stage}\"}}"
        ));
        assert_eq!(count, 1.0, "stage {stage}");
        let seconds = scrape.value(&format!(
            "adbrag_ingest_stage_seconds_sum{{stage=\"{stage}\"}}"
        ));
        assert!(
            (0.0..30.0).contains(&seconds),
            "stage {stage} took {seconds} s"
        );
    }

    // Waits: two API-key checks, the pipeline's four connections (the job, the version check, the
    // cache lookup and the write) and this scrape's.
    scrape.declares("adbrag_db_pool_wait_seconds", "histogram");
    let waits = scrape.value("adbrag_db_pool_wait_seconds_count");
    assert!(waits >= 6.0, "{waits} pool waits");
    let waited = scrape.value("adbrag_db_pool_wait_seconds_sum");
    assert!((0.0..30.0).contains(&waited), "waited {waited} s in all");
    // The existing pool gauges stay.
    assert!(scrape.value("adbrag_db_pool_connections") >= 1.0);
    scrape.value("adbrag_db_pool_idle_connections");

    // Every authenticated request waits for a connection once more; an unchanged upload is settled
    // without parsing, chunking, embedding or writing a version.
    let again = upload(&app, &admin, "hr", "leave.md", text, json!({})).await;
    assert_eq!(again.status(), 200, "{}", again.text().await.unwrap());
    let listed = app
        .http
        .get(app.url("/v1/collections"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), 200);

    let later = Scrape::of(&app).await;
    // Two key checks, the unchanged upload's job, version check and success, and the scrape.
    let more = later.value("adbrag_db_pool_wait_seconds_count") - waits;
    assert!(more >= 6.0, "{more} more pool waits");
    for stage in ["parse", "chunk", "embed", "write"] {
        assert_eq!(
            later.value(&format!(
                "adbrag_ingest_stage_seconds_count{{stage=\"{stage}\"}}"
            )),
            1.0,
            "stage {stage} after an unchanged upload"
        );
    }
}
