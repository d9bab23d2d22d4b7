//! Where documents come from. Today: local files and directories (`adbrag ingest`); OSS objects
//! arrive with the Function Compute trigger.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

/// One source object, read and ready to parse.
#[derive(Debug, Clone)]
pub struct SourceObject {
    /// Stable identity within a collection: `file:///abs/path` or `oss://bucket/key`.
    pub uri: String,
    /// The name used for type detection and as a fallback title.
    pub file_name: Option<String>,
    pub bytes: Vec<u8>,
    /// The source's version identity (an OSS ETag), if it has one.
    pub etag: Option<String>,
    /// Orders versions of the object: the event time or Last-Modified.
    pub modified: DateTime<Utc>,
    /// What search filters on (a JSON object): OSS user metadata, upload fields.
    pub metadata: serde_json::Value,
    /// Principals allowed to read the document; empty: everyone with access to the collection.
    pub acl: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{path} is {size} bytes, more than the limit of {max}: split it, or raise ADBRAG_MAX_OBJECT_BYTES"
    )]
    TooLarge { path: String, size: u64, max: u64 },
    #[error("{0} does not exist: check the path")]
    Missing(String),
}

/// The files under `paths`, in a stable order: files as given, directories walked recursively,
/// hidden entries (`.git`, `.DS_Store`, …) skipped, symlinks followed.
pub fn discover(paths: &[PathBuf]) -> Result<Vec<PathBuf>, SourceError> {
    let mut files = Vec::new();
    for path in paths {
        if !path.exists() {
            return Err(SourceError::Missing(path.display().to_string()));
        }
        if path.is_file() {
            files.push(path.clone());
            continue;
        }
        let mut found: Vec<PathBuf> = walkdir::WalkDir::new(path)
            .follow_links(true)
            .into_iter()
            .filter_entry(|entry| {
                entry.depth() == 0 || !entry.file_name().to_string_lossy().starts_with('.')
            })
            .filter_map(Result::ok)
            .filter(|entry| entry.file_type().is_file())
            .map(walkdir::DirEntry::into_path)
            .collect();
        found.sort();
        files.extend(found);
    }
    Ok(files)
}

/// Reads a local file, refusing it before reading if it is larger than `max_bytes`.
pub async fn read_file(path: &Path, max_bytes: u64) -> Result<SourceObject, SourceError> {
    let shown = path.display().to_string();
    let read_error = |source| SourceError::Read {
        path: shown.clone(),
        source,
    };
    let canonical = tokio::fs::canonicalize(path).await.map_err(read_error)?;
    let metadata = tokio::fs::metadata(&canonical).await.map_err(read_error)?;
    if metadata.len() > max_bytes {
        return Err(SourceError::TooLarge {
            path: shown,
            size: metadata.len(),
            max: max_bytes,
        });
    }
    let bytes = tokio::fs::read(&canonical).await.map_err(read_error)?;
    let modified = metadata
        .modified()
        .map(DateTime::<Utc>::from)
        .unwrap_or_else(|_| Utc::now());
    Ok(SourceObject {
        uri: format!("file://{}", canonical.display()),
        file_name: canonical
            .file_name()
            .map(|name| name.to_string_lossy().into_owned()),
        bytes,
        etag: None,
        modified,
        metadata: serde_json::json!({}),
        acl: Vec::new(),
    })
}
