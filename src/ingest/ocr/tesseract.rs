//! The local engine: Tesseract 5 (Debian's `tesseract-ocr`, with `eng` and `chi_sim`), one
//! subprocess per image.
//!
//! A subprocess rather than bindings (leptess, tesseract-rs): Tesseract and Leptonica are C++ and
//! C that decode untrusted images, so a crash, a hang or a runaway allocation must end one page,
//! not the worker. Each run gets the image on stdin and writes TSV (one row per word, with its
//! confidence and its place in blocks, paragraphs and lines) on stdout; it is killed after the
//! page timeout, runs under `prlimit --as` (an address-space cap) when util-linux has it,
//! and with `OMP_THREAD_LIMIT=1` (pages run in parallel instead, `ADBRAG_OCR_CONCURRENCY`).
//! Starting a process costs ~50 ms against ~1–3 s of recognition per page (docs/ocr.md).

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use async_trait::async_trait;
use tokio::io::AsyncWriteExt;

use super::{Ocr, OcrError, OcrLimits, PageText};
use crate::{ingest::parse::EncodedImage, text::script::joins_without_space};

pub struct Tesseract {
    program: PathBuf,
    languages: String,
    timeout: Duration,
    max_memory: u64,
    name: String,
}

impl Tesseract {
    /// Checks that `program` runs and has every language of `languages` (`eng+chi_sim`).
    ///
    /// # Errors
    ///
    /// A sentence saying what is missing and how to install it.
    pub fn new(program: &Path, languages: &str, limits: &OcrLimits) -> Result<Self, String> {
        let run = |arg: &str| {
            std::process::Command::new(program)
                .arg(arg)
                .stdin(Stdio::null())
                .output()
        };
        let version = run("--version").map_err(|err| {
            format!(
                "Tesseract ({}) cannot be run ({err}): install it with scripts/ocr.sh, or set ADBRAG_TESSERACT to its path",
                program.display()
            )
        })?;
        let version_text = String::from_utf8_lossy(&version.stdout).into_owned()
            + &String::from_utf8_lossy(&version.stderr);
        let version = version_text
            .lines()
            .next()
            .and_then(|line| line.strip_prefix("tesseract "))
            .unwrap_or("(unknown version)")
            .trim()
            .to_owned();
        let listed = run("--list-langs").map_err(|err| err.to_string())?;
        let listed = String::from_utf8_lossy(&listed.stdout).into_owned();
        let installed: Vec<&str> = listed.lines().skip(1).map(str::trim).collect();
        let missing: Vec<&str> = languages
            .split('+')
            .filter(|lang| !installed.contains(lang))
            .collect();
        if languages.split('+').any(str::is_empty) {
            return Err(format!(
                "ADBRAG_OCR_LANGUAGES is invalid ({languages:?}): name Tesseract languages joined by '+', e.g. eng+chi_sim"
            ));
        }
        if !missing.is_empty() {
            return Err(format!(
                "Tesseract has no {} language data (it has: {}): install tesseract-ocr-{} (scripts/ocr.sh installs eng and chi_sim), or change ADBRAG_OCR_LANGUAGES",
                missing.join(", "),
                installed.join(", "),
                missing[0].replace('_', "-"),
            ));
        }
        Ok(Self {
            program: program.to_owned(),
            name: format!("tesseract {version} ({languages})"),
            languages: languages.to_owned(),
            timeout: limits.page_timeout,
            max_memory: limits.max_memory,
        })
    }

    fn command(&self, languages: &str) -> tokio::process::Command {
        let mut command = super::render::prlimited(&self.program, self.max_memory);
        command
            .args(["stdin", "stdout", "-l", languages, "--psm", "3", "tsv"])
            .env("OMP_THREAD_LIMIT", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        command
    }
}

#[async_trait]
impl Ocr for Tesseract {
    fn engine(&self) -> &str {
        &self.name
    }

    async fn read(&self, image: &EncodedImage) -> Result<Vec<PageText>, OcrError> {
        let pages = self.run(image, &self.languages).await?;
        // With English first, Tesseract garbles lines of Chinese; Chinese data alone reads both
        // (Latin words in a Chinese text come out right). So a page that is mostly CJK is read
        // again with the CJK languages alone.
        let cjk: Vec<&str> = self
            .languages
            .split('+')
            .filter(|lang| CJK_LANGUAGES.contains(lang))
            .collect();
        if !cjk.is_empty() && cjk.len() < self.languages.split('+').count() && mostly_cjk(&pages) {
            return self.run(image, &cjk.join("+")).await;
        }
        Ok(pages)
    }
}

/// Tesseract's languages written in CJK scripts.
const CJK_LANGUAGES: [&str; 8] = [
    "chi_sim",
    "chi_tra",
    "chi_sim_vert",
    "chi_tra_vert",
    "jpn",
    "jpn_vert",
    "kor",
    "kor_vert",
];

/// Whether at least a quarter of the text read is CJK characters.
fn mostly_cjk(pages: &[PageText]) -> bool {
    let (mut cjk, mut all) = (0usize, 0usize);
    for c in pages
        .iter()
        .flat_map(|page| &page.paragraphs)
        .flat_map(|p| p.chars())
        .filter(|c| !c.is_whitespace())
    {
        all += 1;
        cjk += usize::from(crate::text::script::is_cjk(c));
    }
    all > 0 && cjk * 4 >= all
}

impl Tesseract {
    async fn run(&self, image: &EncodedImage, languages: &str) -> Result<Vec<PageText>, OcrError> {
        let mut child = self.command(languages).spawn().map_err(|err| {
            OcrError::Unavailable(format!(
                "Tesseract ({}) could not be started: {err}; install it with scripts/ocr.sh, or set ADBRAG_TESSERACT",
                self.program.display()
            ))
        })?;
        let mut stdin = child.stdin.take();
        let feed = async {
            if let Some(stdin) = stdin.as_mut() {
                // A broken pipe means Tesseract gave up on the image: its exit status says why.
                let _ = stdin.write_all(&image.bytes).await;
            }
            drop(stdin);
        };
        let timeout = self.timeout.saturating_mul(image.frames.max(1));
        let run = async { tokio::join!(feed, child.wait_with_output()).1 };
        // On timeout the child is dropped, and killed (kill_on_drop).
        let output = tokio::time::timeout(timeout, run)
            .await
            .map_err(|_| {
                OcrError::Page(format!(
                    "OCR took longer than {timeout:?} and was stopped: if the page is just dense, raise ADBRAG_OCR_PAGE_TIMEOUT"
                ))
            })?
            .map_err(|err| OcrError::Unavailable(format!("Tesseract failed to run: {err}")))?;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let said = stderr
                .lines()
                .map(str::trim)
                .rfind(|line| !line.is_empty() && !line.starts_with("Warning"))
                .unwrap_or("no message");
            return Err(OcrError::Page(match output.status.code() {
                Some(code) => format!(
                    "Tesseract could not read the image (exit {code}: {said}): re-scan or re-export it"
                ),
                None => format!(
                    "Tesseract crashed on the image or ran out of memory ({said}): raise ADBRAG_OCR_MAX_MEMORY_MB, or re-scan the page at a lower resolution"
                ),
            }));
        }
        Ok(parse_tsv(
            &String::from_utf8_lossy(&output.stdout),
            image.frames.max(1),
        ))
    }
}

/// Tesseract's TSV as pages of paragraphs: words joined into lines (with a space, except between
/// CJK characters, which Tesseract separates with spaces that are not in the text), lines into
/// paragraphs, and the page's confidence as the mean of its words', weighted by their length.
pub fn parse_tsv(tsv: &str, frames: u32) -> Vec<PageText> {
    #[derive(Default)]
    struct Page {
        paragraphs: Vec<String>,
        key: Option<(u32, u32)>,
        line: Option<u32>,
        weighted: f64,
        chars: f64,
    }
    let mut pages: Vec<Page> = (0..frames).map(|_| Page::default()).collect();
    for row in tsv.lines().skip(1) {
        let fields: Vec<&str> = row.splitn(12, '\t').collect();
        let [level, page, block, par, line, _word, _, _, _, _, conf, text] = fields[..] else {
            continue;
        };
        if level != "5" {
            continue;
        }
        let text = text.trim();
        let number = |s: &str| s.parse::<u32>().ok();
        let (Some(page), Some(block), Some(par), Some(line)) =
            (number(page), number(block), number(par), number(line))
        else {
            continue;
        };
        if text.is_empty() || page == 0 {
            continue;
        }
        if pages.len() < page as usize {
            pages.resize_with(page as usize, Page::default);
        }
        let current = &mut pages[page as usize - 1];
        if let Ok(conf) = conf.parse::<f64>()
            && conf >= 0.0
        {
            let chars = text.chars().count() as f64;
            current.weighted += conf / 100.0 * chars;
            current.chars += chars;
        }
        let new_paragraph = current.key != Some((block, par));
        if new_paragraph {
            current.key = Some((block, par));
            current.line = Some(line);
            current.paragraphs.push(text.to_owned());
            continue;
        }
        let paragraph = current
            .paragraphs
            .last_mut()
            .expect("a paragraph was started");
        // A hyphen that ends a line joins the word it split.
        let new_line = current.line != Some(line);
        current.line = Some(line);
        if new_line && paragraph.ends_with('-') && paragraph.len() > 1 {
            paragraph.pop();
            paragraph.push_str(text);
            continue;
        }
        let joins = match (paragraph.chars().next_back(), text.chars().next()) {
            (Some(before), Some(after)) => joins_without_space(before, after),
            _ => false,
        };
        if !joins {
            paragraph.push(' ');
        }
        paragraph.push_str(text);
    }
    pages
        .into_iter()
        .map(|page| PageText {
            confidence: (page.chars > 0.0).then(|| (page.weighted / page.chars) as f32),
            paragraphs: page.paragraphs,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext";

    fn row(page: u32, block: u32, par: u32, line: u32, conf: f32, text: &str) -> String {
        format!("5\t{page}\t{block}\t{par}\t{line}\t1\t0\t0\t10\t10\t{conf}\t{text}")
    }

    #[test]
    fn words_make_lines_and_paragraphs_and_a_weighted_confidence() {
        let tsv = [
            HEADER.to_owned(),
            "1\t1\t0\t0\t0\t0\t0\t0\t100\t100\t-1\t".to_owned(),
            row(1, 1, 1, 1, 90.0, "Debian"),
            row(1, 1, 1, 1, 90.0, "is"),
            row(1, 1, 1, 2, 60.0, "free-"),
            row(1, 1, 1, 3, 60.0, "dom."),
            row(1, 1, 2, 1, 100.0, "中"),
            row(1, 1, 2, 1, 100.0, "文"),
            row(1, 1, 2, 1, 100.0, "OK"),
        ]
        .join("\n");
        let pages = parse_tsv(&tsv, 1);
        assert_eq!(pages[0].paragraphs, ["Debian is freedom.", "中文 OK"]);
        // (6×0.9 + 2×0.9 + 5×0.6 + 4×0.6 + 1 + 1 + 2) / 21
        let expected = (6.0 * 0.9 + 2.0 * 0.9 + 5.0 * 0.6 + 4.0 * 0.6 + 4.0) / 21.0;
        assert!((pages[0].confidence.unwrap() - expected).abs() < 1e-6);
    }

    #[test]
    fn a_multi_frame_tiff_gives_a_page_per_frame_blank_ones_included() {
        let tsv = [
            HEADER.to_owned(),
            row(1, 1, 1, 1, 80.0, "one"),
            row(3, 1, 1, 1, 80.0, "three"),
        ]
        .join("\n");
        let pages = parse_tsv(&tsv, 3);
        let texts: Vec<Vec<String>> = pages.iter().map(|p| p.paragraphs.clone()).collect();
        assert_eq!(
            texts,
            [vec!["one".to_owned()], vec![], vec!["three".to_owned()]]
        );
        assert_eq!(pages[1].confidence, None);
    }

    #[test]
    fn garbage_output_is_no_text_never_a_panic() {
        for tsv in [
            "",
            "junk",
            "5\tx\t1",
            &format!("{HEADER}\n5\t0\t1\t1\t1\t1\t0\t0\t0\t0\t99\tzero"),
        ] {
            let pages = parse_tsv(tsv, 1);
            assert!(pages.iter().all(|p| p.paragraphs.is_empty()), "{tsv}");
        }
    }
}
