//! The container files, checked without a docker engine: docker-compose.yml against the Compose
//! Specification's schema (`scripts/compose-check.sh` installs the validator), its services'
//! commands against the real binary, the Dockerfile's invariants, and the healthchecks against
//! the routes the API serves. Building the image itself is not checked here (docs/containers.md).

use std::{collections::BTreeSet, path::PathBuf, process::Command};

use serde_json::Value;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo().join(path)).unwrap_or_else(|err| panic!("{path}: {err}"))
}

/// The validator `scripts/compose-check.sh` installs and prints, or None with a visible SKIPPED;
/// in CI, a failure.
fn compose_validator(test: &str) -> Option<String> {
    match std::env::var("ADBRAG_TEST_COMPOSE_VALIDATOR") {
        Ok(path) if !path.is_empty() => Some(path),
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "{test}: ADBRAG_TEST_COMPOSE_VALIDATOR is not set, and CI is: run scripts/compose-check.sh and export the line it prints"
            );
            // Straight to the process's stderr: the test harness captures `eprintln!`.
            let _ = std::io::Write::write_all(
                &mut std::io::stderr(),
                format!("SKIPPED: {test}: ADBRAG_TEST_COMPOSE_VALIDATOR is not set; run scripts/compose-check.sh and export the line it prints\n").as_bytes(),
            );
            None
        }
    }
}

/// One stage of the Dockerfile: its name, what it is built `FROM`, and its instructions
/// (upper-cased keyword, arguments), continuation lines joined and comments dropped.
struct Stage {
    name: String,
    base: String,
    instructions: Vec<(String, String)>,
}

fn dockerfile() -> Vec<Stage> {
    let mut lines = Vec::new();
    let mut current = String::new();
    for line in read("Dockerfile").lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(head) => {
                current.push_str(head);
                current.push(' ');
            }
            None => {
                current.push_str(line);
                lines.push(std::mem::take(&mut current));
            }
        }
    }
    let mut stages: Vec<Stage> = Vec::new();
    for line in lines {
        let (keyword, args) = line
            .split_once(char::is_whitespace)
            .unwrap_or((line.as_str(), ""));
        let (keyword, args) = (keyword.to_ascii_uppercase(), args.trim().to_owned());
        if keyword == "FROM" {
            let words: Vec<&str> = args
                .split_whitespace()
                .filter(|w| !w.starts_with("--"))
                .collect();
            let name = match words.as_slice() {
                [_, keyword, name] if keyword.eq_ignore_ascii_case("as") => name.to_string(),
                _ => format!("stage {}", stages.len()),
            };
            stages.push(Stage {
                name,
                base: words[0].to_owned(),
                instructions: Vec::new(),
            });
        } else if let Some(stage) = stages.last_mut() {
            stage.instructions.push((keyword, args));
        }
    }
    stages
}

/// The arguments of the last `keyword` in `stage`, or in the stage it is built from.
fn effective<'a>(stages: &'a [Stage], stage: &str, keyword: &str) -> Option<&'a str> {
    let stage = stages.iter().find(|s| s.name == stage)?;
    let own = stage.instructions.iter().rev().find(|(k, _)| k == keyword);
    own.map(|(_, args)| args.as_str())
        .or_else(|| effective(stages, &stage.base, keyword))
}

/// The value `ENV` gives `key` in `stage` (or the stage it is built from).
fn env_value(stages: &[Stage], stage: &str, key: &str) -> Option<String> {
    let stage = stages.iter().find(|s| s.name == stage)?;
    let own = stage
        .instructions
        .iter()
        .rev()
        .filter(|(k, _)| k == "ENV")
        .find_map(|(_, args)| {
            args.split_whitespace()
                .find_map(|pair| pair.strip_prefix(&format!("{key}=")).map(str::to_owned))
        });
    own.or_else(|| env_value(stages, &stage.base, key))
}

/// The `http://…` URLs in `text`, each up to a quote or whitespace.
fn urls(text: &str) -> Vec<String> {
    text.match_indices("http://")
        .map(|(at, _)| {
            text[at..]
                .split(|c: char| c == '"' || c.is_whitespace())
                .next()
                .unwrap()
                .to_owned()
        })
        .collect()
}

/// Every path routed in src/api (`.route("/path", …)`).
fn routes() -> BTreeSet<String> {
    let mut routes = BTreeSet::new();
    for entry in std::fs::read_dir(repo().join("src/api")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|ext| ext != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(path).unwrap();
        for (at, call) in text.match_indices(".route(") {
            if let Some(rest) = text[at + call.len()..].trim_start().strip_prefix('"') {
                routes.insert(rest.split('"').next().unwrap().to_owned());
            }
        }
    }
    routes
}

/// What the image's ENTRYPOINT and a service's command run: `adbrag ARGS --help` must succeed.
fn help(args: &[String]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_adbrag"))
        .args(args)
        .arg("--help")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "`adbrag {} --help` failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn docker_compose_yml_matches_the_compose_specification() {
    let Some(validator) = compose_validator("docker_compose_yml_matches_the_compose_specification")
    else {
        return;
    };
    let output = Command::new(&validator)
        .arg(repo().join("docker-compose.yml"))
        .output()
        .unwrap();

    assert!(
        output.status.success(),
        "{validator} rejected docker-compose.yml:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn every_service_built_from_the_dockerfile_runs_a_real_adbrag_command() {
    let Some(validator) =
        compose_validator("every_service_built_from_the_dockerfile_runs_a_real_adbrag_command")
    else {
        return;
    };
    let output = Command::new(validator)
        .arg("--commands")
        .arg(repo().join("docker-compose.yml"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let services: serde_json::Map<String, Value> = serde_json::from_slice(&output.stdout).unwrap();
    let stages: Vec<String> = dockerfile().into_iter().map(|s| s.name).collect();

    for expected in ["migrate", "serve", "worker"] {
        assert!(
            services.contains_key(expected),
            "no {expected} service built from the Dockerfile"
        );
    }
    for (name, service) in &services {
        assert!(
            service["entrypoint"].is_null()
                || service["entrypoint"] == serde_json::json!(["adbrag"]),
            "{name}: the entrypoint must stay the image's (adbrag): {}",
            service["entrypoint"]
        );
        let target = service["target"].as_str().unwrap_or_default();
        assert!(
            stages.iter().any(|s| s == target),
            "{name}: build target {target:?} is not a stage of the Dockerfile"
        );
        let args: Vec<String> =
            serde_json::from_value(service["command"].clone()).unwrap_or_else(|_| {
                panic!("{name}: no command (the image's CMD would run; say which)")
            });
        let text = help(&args).split_whitespace().collect::<Vec<_>>().join(" ");
        // Every adbrag variable the service sets is one its command reads (a typo is ignored silently).
        for key in service["environment"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k.as_str().unwrap())
        {
            if key.starts_with("ADBRAG_") || key == "DATABASE_URL" {
                assert!(
                    text.contains(&format!("[env: {key}="))
                        || text.contains(&format!("[env: {key}]")),
                    "{name}: `adbrag {}` reads no {key}",
                    args.join(" ")
                );
            }
        }
    }
    let serve = &services["serve"]["healthcheck"];
    assert!(
        serve.to_string().contains("http://127.0.0.1:8080/readyz"),
        "serve's healthcheck: {serve}"
    );
}

#[test]
fn the_dockerfile_runs_adbrag_unprivileged_with_a_readiness_healthcheck() {
    let stages = dockerfile();
    let last = &stages.last().unwrap().name;
    for target in ["runtime", "runtime-with-model"] {
        assert!(stages.iter().any(|s| s.name == target), "no stage {target}");
        let user = effective(&stages, target, "USER").unwrap_or("root");
        let user = user.split(':').next().unwrap();
        assert!(
            !["", "root", "0"].contains(&user),
            "{target} runs as {user}"
        );
        assert_eq!(
            effective(&stages, target, "ENTRYPOINT"),
            Some(r#"["adbrag"]"#),
            "{target}"
        );
        assert_eq!(
            effective(&stages, target, "CMD"),
            Some(r#"["serve"]"#),
            "{target}"
        );
        let healthcheck = effective(&stages, target, "HEALTHCHECK").unwrap_or_default();
        assert!(
            healthcheck.contains("/readyz"),
            "{target}: HEALTHCHECK {healthcheck:?}"
        );
        let bind = env_value(&stages, target, "ADBRAG_BIND").unwrap_or_default();
        let port = bind.rsplit(':').next().unwrap();
        assert!(
            bind.starts_with("0.0.0.0:"),
            "{target}: ADBRAG_BIND={bind}: a published port needs every interface"
        );
        assert_eq!(effective(&stages, target, "EXPOSE"), Some(port), "{target}");
        assert!(
            healthcheck.contains(&format!("127.0.0.1:{port}/")),
            "{target}: {healthcheck}"
        );
    }
    assert!(
        last.starts_with("runtime"),
        "a plain `docker build .` builds {last}"
    );
    // The runtime image takes the binary from the builder, and nothing else.
    let runtime = stages.iter().find(|s| s.name == "runtime").unwrap();
    for (keyword, args) in &runtime.instructions {
        if keyword == "COPY" || keyword == "ADD" {
            assert_eq!(
                args,
                "--from=builder /usr/local/bin/adbrag /usr/local/bin/adbrag"
            );
        }
    }

    // Every COPY from the build context names a file of the repository that .dockerignore keeps.
    let ignored: Vec<String> = read(".dockerignore")
        .lines()
        .map(|line| line.trim().trim_end_matches('/').to_owned())
        .filter(|line| !line.is_empty() && !line.starts_with('#') && !line.contains('*'))
        .collect();
    let mut copied = 0;
    for stage in &stages {
        for (keyword, args) in &stage.instructions {
            let words: Vec<&str> = args.split_whitespace().collect();
            if !(keyword == "COPY" || keyword == "ADD")
                || words.iter().any(|w| w.starts_with("--from="))
            {
                continue;
            }
            let sources = words
                .iter()
                .filter(|w| !w.starts_with("--"))
                .collect::<Vec<_>>();
            for source in &sources[..sources.len() - 1] {
                let source = source.trim_start_matches("./").trim_end_matches('/');
                assert!(
                    repo().join(source).exists(),
                    "{}: COPY {source}: no such file",
                    stage.name
                );
                assert!(
                    !ignored
                        .iter()
                        .any(|i| source == i || source.starts_with(&format!("{i}/"))),
                    "{}: COPY {source}: .dockerignore leaves it out of the build context",
                    stage.name
                );
                copied += 1;
            }
        }
    }
    assert!(
        copied >= 5,
        "only {copied} COPY sources found: is the Dockerfile parsed?"
    );
}

#[test]
fn the_healthchecks_probe_the_readiness_route_the_api_serves() {
    let routes = routes();
    assert!(
        routes.contains("/readyz"),
        "src/api routes no /readyz: {routes:?}"
    );
    let stages = dockerfile();
    let healthcheck = effective(&stages, "runtime", "HEALTHCHECK").unwrap();
    let compose = read("docker-compose.yml");
    let probes: Vec<String> = urls(healthcheck)
        .into_iter()
        .chain(
            urls(&compose)
                .into_iter()
                .filter(|url| url.starts_with("http://127.0.0.1:8080/")),
        )
        .collect();

    assert!(
        probes.len() >= 2,
        "no healthcheck URL of adbrag's in the Dockerfile and docker-compose.yml: {probes:?}"
    );
    for probe in probes {
        let path = probe
            .trim_start_matches("http://")
            .split_once('/')
            .map(|(_, p)| format!("/{p}"))
            .unwrap();
        assert_eq!(path, "/readyz", "{probe}: the healthchecks probe readiness");
        assert!(routes.contains(&path), "{probe}: src/api routes no {path}");
    }
}
