//! The `adbrag` binary as an operator runs it: exit codes, one-line errors, signals.

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    time::Duration,
};

use crate::harness::TestDb;

fn adbrag() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_adbrag"));
    command
        .env_remove("DATABASE_URL")
        .env_remove("RUST_LOG")
        .env("ADBRAG_LOG_FORMAT", "json");
    command
}

/// Runs to completion and returns (success, stderr).
fn run(command: &mut Command) -> (bool, String) {
    let output = command.output().expect("the binary runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn assert_one_line_error(stderr: &str, expected: &str) {
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|line| !line.starts_with('{'))
        .collect();
    assert_eq!(lines.len(), 1, "expected one error line, got:\n{stderr}");
    assert!(lines[0].starts_with("error: "), "{stderr}");
    assert!(
        lines[0].contains(expected),
        "expected {expected:?} in:\n{stderr}"
    );
    assert!(
        !stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"),
        "{stderr}"
    );
}

#[test]
fn without_a_database_url_migrate_says_what_to_set() {
    let (ok, stderr) = run(adbrag().arg("migrate"));

    assert!(!ok);
    assert_one_line_error(&stderr, "DATABASE_URL is not set");
    assert!(stderr.contains("scripts/pg.sh"), "{stderr}");
}

#[test]
fn an_unreachable_database_is_one_line_with_a_hint() {
    let (ok, stderr) = run(adbrag().args(["serve", "--db-connect-timeout", "2"]).env(
        "DATABASE_URL",
        "postgres://adbrag:s3cret@127.0.0.1:1/adbrag",
    ));

    assert!(!ok);
    assert_one_line_error(&stderr, "cannot connect to the database at 127.0.0.1:1");
    assert!(stderr.contains("scripts/pg.sh"), "{stderr}");
    assert!(!stderr.contains("s3cret"), "the password leaked: {stderr}");
}

#[tokio::test]
async fn a_wrong_password_is_named_as_such() {
    let db = TestDb::empty().await;
    let mut url = url::Url::parse(&db.url).unwrap();
    url.set_password(Some("wrong-password")).unwrap();

    let (ok, stderr) = run(adbrag().arg("migrate").env("DATABASE_URL", url.as_str()));

    assert!(!ok);
    assert_one_line_error(&stderr, "check the user name and password in DATABASE_URL");
    assert!(!stderr.contains("wrong-password"), "{stderr}");
}

#[tokio::test]
async fn migrate_applies_once_and_then_reports_up_to_date() {
    let db = TestDb::empty().await;

    let first = adbrag()
        .arg("migrate")
        .env("DATABASE_URL", &db.url)
        .output()
        .unwrap();
    let second = adbrag()
        .arg("migrate")
        .env("DATABASE_URL", &db.url)
        .output()
        .unwrap();

    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(String::from_utf8_lossy(&first.stdout).starts_with("applied migration(s) 1, 2"));
    assert!(String::from_utf8_lossy(&second.stdout).starts_with("the database is up to date"));
}

#[tokio::test]
async fn a_database_newer_than_the_binary_is_refused_by_migrate_and_serve() {
    let db = TestDb::migrated().await;
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
         VALUES (99999, 'from the future', true, '\\x00', 0)",
    )
    .execute(&db.pool)
    .await
    .unwrap();

    for command in ["migrate", "serve"] {
        let (ok, stderr) = run(adbrag().arg(command).env("DATABASE_URL", &db.url));
        assert!(!ok, "{command}");
        assert_one_line_error(
            &stderr,
            "the database is at migration 99999, newer than this binary's",
        );
    }
}

#[tokio::test]
async fn serve_refuses_an_unmigrated_database() {
    let db = TestDb::empty().await;

    let (ok, stderr) = run(adbrag()
        .args(["serve", "--bind", "127.0.0.1:0"])
        .env("DATABASE_URL", &db.url));

    assert!(!ok);
    assert_one_line_error(&stderr, "run `adbrag migrate`");
}

#[tokio::test]
async fn serve_answers_then_stops_cleanly_on_sigterm() {
    let db = TestDb::migrated().await;
    let mut child = adbrag()
        .args(["serve", "--bind", "127.0.0.1:0"])
        .env("DATABASE_URL", &db.url)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());

    // A log line names the address it bound (start-up lines, such as the OCR engine's, come
    // first).
    let address = loop {
        let mut line = String::new();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "serve exited before naming its address"
        );
        let log: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|_| panic!("a JSON log line: {line}"));
        if let Some(address) = log["fields"]["address"].as_str() {
            break address.to_owned();
        }
    };

    let ready = reqwest::get(format!("http://{address}/readyz"))
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = tokio::time::timeout(
        Duration::from_secs(20),
        tokio::task::spawn_blocking(move || child.wait()),
    )
    .await
    .expect("serve exits promptly after SIGTERM")
    .unwrap()
    .unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();

    assert!(status.success(), "exit status {status}, stderr:\n{rest}");
    assert!(
        rest.contains("shutting down") && rest.contains("stopped"),
        "{rest}"
    );
}

#[tokio::test]
async fn ingest_reports_every_document_and_exits_non_zero_when_one_failed() {
    let db = TestDb::migrated().await;
    let fake = crate::harness::openai::FakeOpenAi::start().await;
    let dir = crate::ingest::tempdir();
    std::fs::write(
        dir.join("leave.md"),
        "# Leave\n\nEmployees get twenty days of paid leave.",
    )
    .unwrap();
    std::fs::write(dir.join("empty.txt"), "").unwrap();
    let ingest = {
        let (url, base_url, dir) = (db.url.clone(), fake.base_url(), dir.clone());
        move || {
            adbrag()
                .args(["ingest", "--collection", "hr"])
                .arg(&dir)
                .env("DATABASE_URL", &url)
                .env("ADBRAG_EMBEDDING_BASE_URL", &base_url)
                .env("ADBRAG_EMBEDDING_API_KEY", "test-key")
                .env("ADBRAG_EMBEDDING_DIMENSIONS", "16")
                .output()
                .unwrap()
        }
    };

    // The fake serves on this test's runtime: run the binary off it.
    let first = tokio::task::spawn_blocking(ingest.clone()).await.unwrap();
    let second = tokio::task::spawn_blocking(ingest).await.unwrap();

    let stdout = String::from_utf8_lossy(&first.stdout);
    let stderr = String::from_utf8_lossy(&first.stderr);
    assert!(!first.status.success());
    assert!(
        stdout.contains("1 written, 0 unchanged, 0 stale, 1 failed"),
        "{stdout}"
    );
    assert!(stdout.contains("empty.txt: the file is empty"), "{stdout}");
    assert!(
        stderr.contains("created collection 'hr' (text-embedding-v4, 16 dimensions)"),
        "{stderr}"
    );
    assert!(
        stderr
            .lines()
            .last()
            .unwrap()
            .starts_with("error: 1 of 2 document(s) failed"),
        "{stderr}"
    );
    let again = String::from_utf8_lossy(&second.stdout);
    assert!(again.contains("0 written, 1 unchanged"), "{again}");
}

#[tokio::test]
async fn ask_streams_an_answer_then_lists_what_it_cites() {
    let db = TestDb::migrated().await;
    let fake = crate::harness::openai::FakeOpenAi::start().await;
    fake.set_reply("Employees get twenty days [1], not [3].");
    let dir = crate::ingest::tempdir();
    std::fs::write(
        dir.join("leave.md"),
        "# Leave\n\nEmployees get twenty days of paid leave.",
    )
    .unwrap();
    let (url, base_url) = (db.url.clone(), fake.base_url());
    let output = tokio::task::spawn_blocking(move || {
        let with_fake = |command: &mut Command| {
            command
                .env("DATABASE_URL", &url)
                .env("ADBRAG_EMBEDDING_BASE_URL", &base_url)
                .env("ADBRAG_EMBEDDING_DIMENSIONS", "16")
                .env("ADBRAG_CHAT_BASE_URL", &base_url)
                .output()
                .unwrap()
        };
        let ingested = with_fake(adbrag().args(["ingest", "--collection", "hr"]).arg(&dir));
        assert!(ingested.status.success());
        with_fake(adbrag().args([
            "ask",
            "How many days of leave do employees get?",
            "--collection",
            "hr",
        ]))
    })
    .await
    .unwrap();

    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(
        stdout.starts_with("Employees get twenty days [1], not."),
        "{stdout}"
    );
    assert!(stdout.contains("\n[1] Leave (file://"), "{stdout}");
    assert!(
        stdout.contains("1 citation(s) pointing to no passage were removed"),
        "{stdout}"
    );
}

#[tokio::test]
async fn serve_refuses_a_broken_prompt_template_and_names_it() {
    let db = TestDb::migrated().await;
    let dir = crate::ingest::tempdir();
    std::fs::write(dir.join("system.j2"), "{{ not_found }}").unwrap();
    std::fs::write(dir.join("condense.j2"), "{{ question }}").unwrap();
    std::fs::write(dir.join("context.j2"), "{% for p in passages %}").unwrap();

    let (ok, stderr) = run(adbrag()
        .args(["serve", "--bind", "127.0.0.1:0", "--prompts-dir"])
        .arg(&dir)
        .env("DATABASE_URL", &db.url)
        .env("ADBRAG_EMBEDDING_BASE_URL", "http://127.0.0.1:9"));

    assert!(!ok);
    assert_one_line_error(&stderr, &format!("{}", dir.join("context.j2").display()));
}

#[test]
fn ingest_of_a_missing_path_says_so_before_touching_the_database() {
    let (ok, stderr) = run(adbrag()
        .args(["ingest", "--collection", "hr", "/nonexistent/adbrag/docs"])
        .env("DATABASE_URL", "postgres://a:b@127.0.0.1:1/x"));

    assert!(!ok);
    assert_one_line_error(
        &stderr,
        "/nonexistent/adbrag/docs does not exist: check the path",
    );
}

#[tokio::test]
async fn keys_are_created_once_listed_without_secrets_and_revoked() {
    let db = TestDb::migrated().await;
    let keys = |args: &[&str]| {
        adbrag()
            .arg("keys")
            .args(args)
            .env("DATABASE_URL", &db.url)
            .output()
            .unwrap()
    };

    let created = keys(&[
        "create",
        "--tenant",
        "acme",
        "--role",
        "writer",
        "--name",
        "assistant",
    ]);
    let secret = String::from_utf8_lossy(&created.stdout).trim().to_owned();
    let listed = String::from_utf8_lossy(&keys(&["list", "--tenant", "acme"]).stdout).into_owned();
    let prefix: String = secret.chars().take(12).collect();
    let revoked = keys(&["revoke", &prefix]);
    let listed_after = String::from_utf8_lossy(&keys(&["list"]).stdout).into_owned();
    let bad_role = keys(&[
        "create", "--tenant", "acme", "--role", "owner", "--name", "x",
    ]);

    assert!(
        created.status.success() && secret.starts_with("adb_") && secret.len() > 60,
        "{secret}"
    );
    assert!(
        listed.contains(&prefix) && listed.contains("writer") && !listed.contains(&secret),
        "{listed}"
    );
    assert!(revoked.status.success());
    assert!(listed_after.contains("revoked"), "{listed_after}");
    assert!(!bad_role.status.success());
    assert!(String::from_utf8_lossy(&bad_role.stderr).contains("use reader, writer or admin"));
}

#[test]
fn serving_without_auth_is_refused_off_loopback() {
    let (ok, stderr) = run(adbrag()
        .args(["serve", "--insecure-no-auth", "--bind", "0.0.0.0:0"])
        .env("DATABASE_URL", "postgres://a:b@127.0.0.1:1/x"));

    assert!(!ok);
    assert_one_line_error(
        &stderr,
        "--insecure-no-auth serves without API keys and is refused on 0.0.0.0:0",
    );
}
