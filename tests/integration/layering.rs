//! The crate's layering, checked against its `use` lines: each top-level module of `src/` may
//! use only the modules below it in [`ALLOWED`], the table `docs/architecture.md` shows. A new
//! upward import fails here with the file that made it, so the picture in the docs cannot drift
//! from the code. Also: script and sentence rules live only in `src/text/`.

use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    path::{Path, PathBuf},
};

/// Each module and the modules it may use (`crate::…`), bottom of the crate first. The same
/// table is in docs/architecture.md ("Layers").
const ALLOWED: &[(&str, &[&str])] = &[
    ("text", &[]),
    ("store", &["text"]),
    ("llm", &["text"]),
    ("ingest", &["llm", "store", "text"]),
    ("search", &["ingest", "llm", "store", "text"]),
    ("answer", &["search", "ingest", "llm", "store", "text"]),
    ("admin", &["search", "store", "text"]),
    (
        "config",
        &[
            "admin", "answer", "search", "ingest", "llm", "store", "text",
        ],
    ),
    ("telemetry", &["config"]),
    (
        "api",
        &[
            "config", "admin", "answer", "search", "ingest", "llm", "store", "text",
        ],
    ),
    (
        "cli",
        &[
            "api",
            "telemetry",
            "config",
            "admin",
            "answer",
            "search",
            "ingest",
            "llm",
            "store",
            "text",
        ],
    ),
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file of `src/` belongs to (`src/store/jobs.rs` → `store`).
fn module_of(file: &Path) -> String {
    let relative = file.strip_prefix(src()).unwrap();
    let first = relative.components().next().unwrap().as_os_str();
    first.to_string_lossy().trim_end_matches(".rs").to_owned()
}

/// The crate modules a source text names: `crate::x` paths, and the first segment of each item
/// in `use crate::{x, y::z}` groups. Comments are included on purpose: a doc link upwards is a
/// dependency a reader follows too.
fn used_modules(text: &str) -> BTreeSet<String> {
    let mut used = BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // Split the group at its top-level commas; take each item's first segment.
            let mut depth = 0;
            let mut item = String::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        used.insert(first_segment(&item));
                        item.clear();
                        continue;
                    }
                    _ => {}
                }
                item.push(c);
            }
            used.insert(first_segment(&item));
        } else {
            used.insert(first_segment(rest));
        }
    }
    used.remove("");
    used
}

fn first_segment(path: &str) -> String {
    path.trim_start()
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect()
}

#[test]
fn every_module_uses_only_the_layers_below_it() {
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut violations = Vec::new();
    for file in &files {
        let module = module_of(file);
        if module == "lib" || module == "main" {
            continue;
        }
        let Some(may_use) = allowed.get(module.as_str()) else {
            violations.push(format!(
                "{}: module `{module}` is not in the layering table: add it to ALLOWED here and to docs/architecture.md",
                file.display()
            ));
            continue;
        };
        let text = fs::read_to_string(file).unwrap();
        for used in used_modules(&text) {
            if used != module && !may_use.contains(&used.as_str()) {
                violations.push(format!(
                    "{}: `{module}` uses `crate::{used}`, which is not below it",
                    file.display()
                ));
            }
        }
    }
    assert!(
        violations.is_empty(),
        "imports against the layering (docs/architecture.md):\n{}",
        violations.join("\n")
    );
}

#[test]
fn the_checker_sees_paths_and_groups() {
    let text = "use crate::{\n    store::{self, jobs},\n    llm::Embedder,\n};\nlet x = crate::search::filter::Filter::parse(v);";
    let used = used_modules(text);
    assert_eq!(
        used,
        ["llm", "search", "store"]
            .into_iter()
            .map(str::to_owned)
            .collect()
    );
}

/// Code points that open a CJK block: a table of them outside `src/text/` is a second opinion on
/// what is CJK.
const CJK_MARKERS: &[&str] = &[
    "0x4E00",
    "0x4e00",
    "\\u{4e00}",
    "\\u{4E00}",
    "0x3040",
    "'一'",
];

/// Files that hold CJK code points for another reason than deciding what is CJK, and why.
const NOT_SCRIPT_RULES: &[(&str, &str)] = &[(
    "ingest/tokens.rs",
    "the token estimator's cost per code point range (an upper bound on BPE tokens, pinned by its \
     tests): a price list, not a script rule",
)];

#[test]
fn script_rules_live_only_in_the_text_module() {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let text_dir = src().join("text");
    let offenders: Vec<String> = files
        .iter()
        .filter(|file| !file.starts_with(&text_dir))
        .filter(|file| {
            !NOT_SCRIPT_RULES
                .iter()
                .any(|(exempt, _)| file.ends_with(exempt))
        })
        .filter_map(|file| {
            let text = fs::read_to_string(file).unwrap();
            CJK_MARKERS
                .iter()
                .find(|marker| text.contains(*marker))
                .map(|marker| format!("{}: {marker}", file.display()))
        })
        .collect();
    assert!(
        offenders.is_empty(),
        "CJK ranges outside src/text/ (use crate::text::script):\n{}",
        offenders.join("\n")
    );
}
