//! Finished analyses kept per series, so reopening a case shows its pre-read at once.
//!
//! One file per (series, grid, method) under `$XDG_CACHE_HOME/lungdesk/analysis` (default
//! `~/.cache/...`), named by a SHA-256 of that key: no UID or patient text in file names.
//! A file is gzip of a JSON header line (method, models, numbers and grade, for the record)
//! and the label volume. Written to a temporary file and renamed, so a crash leaves either
//! the old entry or the new one. Quantification and grade are recomputed from the labels
//! on load, so they always follow the current rule set; a "cannot grade" is kept in the header
//! and never turns into a grade on load.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use lungdesk_volume::VolumeGeometry;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::analysis::{Analysis, AnalysisError, Engine, analyze, finish};
use lungdesk_volume::Progress;

/// The entry format, and the version of the post-processing around the models: bumped
/// whenever either changes, so an entry computed by an older pipeline is a miss (3: large
/// holes resting on lung filled, solid ones and their continuation labelled consolidation).
// 4: a "cannot grade" decided before segmentation carries the model versions of its set.
const MAGIC: &str = "lungdesk-analysis/4";

/// Why a cache entry could not be written (reading failures are misses, not errors).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CacheError {
    #[error("analysis cache {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

/// The default cache folder.
pub fn default_dir() -> Option<PathBuf> {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .map(|d| d.join("lungdesk/analysis"))
}

/// What identifies a cached result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheKey {
    pub series_uid: String,
    pub dims: [usize; 3],
    /// The engine's fingerprint (model names, versions and checksums, or baseline params).
    pub engine: String,
}

impl CacheKey {
    fn file_name(&self) -> String {
        let mut h = Sha256::new();
        for part in [self.series_uid.as_str(), &format!("{:?}", self.dims), &self.engine] {
            h.update(part.as_bytes());
            h.update([0]);
        }
        format!("{}.gz", crate::manifest::hex(&h.finalize()))
    }
}

#[derive(Serialize, Deserialize)]
struct Header {
    format: String,
    method: String,
    models: Vec<String>,
    fallback_reason: Option<String>,
    /// Why the AI could not grade, if it could not.
    #[serde(default)]
    cannot_grade: Option<crate::gradable::CannotGrade>,
    voxels: usize,
    /// Numbers and grade at the time of writing, for the record.
    summary: serde_json::Value,
}

/// Stores `analysis` under `key` in `dir`.
pub fn store(dir: &Path, key: &CacheKey, analysis: &Analysis) -> Result<(), CacheError> {
    let path = dir.join(key.file_name());
    let io = |source| CacheError::Io { path: path.clone(), source };
    std::fs::create_dir_all(dir).map_err(io)?;
    let header = Header {
        format: MAGIC.into(),
        method: analysis.method.clone(),
        models: analysis.models.clone(),
        fallback_reason: analysis.fallback_reason.clone(),
        cannot_grade: analysis.cannot_grade.clone(),
        voxels: analysis.labels.len(),
        summary: serde_json::to_value(analysis).unwrap_or_default(),
    };
    let tmp = dir.join(format!(".{}.{}.tmp", key.file_name(), std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut gz = GzEncoder::new(std::fs::File::create(&tmp)?, Compression::fast());
        serde_json::to_writer(&mut gz, &header)?;
        gz.write_all(b"\n")?;
        gz.write_all(&analysis.labels)?;
        gz.finish()?.sync_all()?;
        std::fs::rename(&tmp, &path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io(e)
    })
}

/// The cached analysis for `key`, if there is a readable one that fits `geometry`.
pub fn load(dir: &Path, key: &CacheKey, geometry: &VolumeGeometry) -> Option<Result<Analysis, AnalysisError>> {
    let file = std::fs::File::open(dir.join(key.file_name())).ok()?;
    let mut reader = BufReader::new(GzDecoder::new(file));
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let header: Header = serde_json::from_str(&line).ok()?;
    let expected: usize = geometry.dims.iter().product();
    if header.format != MAGIC || header.voxels != expected {
        return None;
    }
    let mut labels = Vec::with_capacity(expected);
    reader.read_to_end(&mut labels).ok()?;
    if labels.len() != expected || labels.iter().any(|&l| l > lungdesk_volume::labels::CONSOLIDATION) {
        return None;
    }
    Some(finish(geometry, labels, header.method, header.models, header.fallback_reason, header.cannot_grade, true))
}

/// [`analyze`] through the cache in `dir` (none: always computed): a readable entry for
/// this series, grid and engine is returned as is; a new result is stored (a failed write
/// is logged, not an error: the result is still good).
pub fn analyze_cached(
    engine: &Engine,
    dir: Option<&Path>,
    series_uid: &str,
    geometry: &VolumeGeometry,
    voxels_hu: &[i16],
    progress: &Progress,
) -> Result<Analysis, AnalysisError> {
    let key = CacheKey { series_uid: series_uid.to_owned(), dims: geometry.dims, engine: engine.fingerprint() };
    if let Some(found) = dir.and_then(|d| load(d, &key, geometry)) {
        return found;
    }
    let analysis = analyze(engine, geometry, voxels_hu, progress)?;
    if let Some(d) = dir
        && let Err(e) = store(d, &key, &analysis)
    {
        tracing::warn!("{e}");
    }
    Ok(analysis)
}
