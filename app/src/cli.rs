//! The command line: `inspect`, `export`, `analyze`, `import`, `batch`, `phantom` and the rest.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::{Parser, Subcommand};
use lungdesk_volume::phantom::{PhantomSpec, SliceOrientation, write_phantom_series};
use lungdesk_volume::{Progress, VolumeError, load_series, nifti_export, scan};

use crate::inspect;

#[derive(Debug, Parser)]
#[command(name = "lungdesk", version, about = "CT review for COVID-19 pneumonia grading")]
pub struct Cli {
    /// What to do; without one, the review desk opens on the default label store.
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List every series under a folder: UIDs, dims, spacing, orientation, HU range, problems.
    Inspect {
        dir: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// Read headers only; skip decoding (no HU range).
        #[arg(long)]
        headers_only: bool,
    },
    /// Decode a series and write it as NIfTI (.nii or .nii.gz) with its true affine.
    Export {
        dir: PathBuf,
        /// Series Instance UID; the largest CT series when left out.
        #[arg(long)]
        series: Option<String>,
        /// Output file, .nii or .nii.gz.
        #[arg(long)]
        out: PathBuf,
    },
    /// Open the viewer window, optionally on a DICOM folder.
    View { dir: Option<PathBuf> },
    /// Open the review desk: worklist, keyboard grading, label store (the default UI).
    Desk {
        /// Label store file (default: `LUNGDESK_STORE`, else ~/.local/share/lungdesk/labels.sqlite).
        #[arg(long, value_name = "FILE")]
        store: Option<PathBuf>,
        /// A folder to offer for import (press Enter in the import field).
        #[arg(long, value_name = "DIR")]
        import: Option<PathBuf>,
    },
    /// Import every CT series under a folder into the label store (headers only).
    Import {
        dir: PathBuf,
        /// Label store file (default as for `desk`).
        #[arg(long, value_name = "FILE")]
        store: Option<PathBuf>,
    },
    /// The site key that keys the case keys (one per site, shared by its desks; `docs/LABELS.md`).
    SiteKey {
        #[command(subcommand)]
        action: SiteKeyAction,
        /// Label store file (default as for `desk`).
        #[arg(long, value_name = "FILE", global = true)]
        store: Option<PathBuf>,
    },
    /// Export every confirmed label from the label store as CSV or JSON (by the file's extension).
    ExportLabels {
        /// Output file, .csv or .json.
        out: PathBuf,
        /// Label store file (default as for `desk`).
        #[arg(long, value_name = "FILE")]
        store: Option<PathBuf>,
    },
    /// Segment lungs, ground glass and consolidation, quantify them and predict the RSNA grade.
    Analyze {
        dir: PathBuf,
        /// Series Instance UID; the largest CT series when left out.
        #[arg(long)]
        series: Option<String>,
        /// Write the report as JSON to this file (`-`: to standard output, instead of text).
        #[arg(long, value_name = "OUT.json")]
        json: Option<PathBuf>,
        /// Write the label volume (0 background, 1 lung, 2 ground glass, 3 consolidation) as
        /// NIfTI on the series' grid.
        #[arg(long, value_name = "OUT.nii.gz")]
        mask: Option<PathBuf>,
        /// Folder of model manifests and ONNX files (default: the bundled models).
        #[arg(long, value_name = "DIR")]
        models: Option<PathBuf>,
        /// Use the HU baseline instead of the models.
        #[arg(long)]
        baseline: bool,
        /// Neither read nor write the per-series result cache.
        #[arg(long)]
        no_cache: bool,
    },
    /// Headless pre-read for a site's server or a cron job: import, read every case that each
    /// model set has not read yet, sync the AI reads, exit. Stop it at any point and run it
    /// again: nothing is lost, read twice or sent twice.
    Batch {
        /// Label store file (default as for `desk`).
        #[arg(long, value_name = "FILE")]
        store: Option<PathBuf>,
        /// A folder to import first (may be given several times).
        #[arg(long, value_name = "DIR")]
        import: Vec<PathBuf>,
        /// A site's own model set: a folder of manifests, named by the folder (may be given
        /// several times); read beside the bundled set.
        #[arg(long, value_name = "DIR")]
        models: Vec<PathBuf>,
        /// Read only with the sets of `--models`, not with the bundled one.
        #[arg(long)]
        no_bundled: bool,
        /// The dataset service to send the AI reads to (needs `--token-file`).
        #[arg(long, value_name = "URL", requires = "token_file")]
        sync: Option<String>,
        /// A file holding this desk's service token.
        #[arg(long, value_name = "FILE", requires = "sync")]
        token_file: Option<PathBuf>,
        /// Neither read nor write the per-series result cache.
        #[arg(long)]
        no_cache: bool,
    },
    /// Write a SYNTHETIC chest CT phantom as a DICOM series (for tests and benchmarks).
    Phantom {
        /// Output folder (created).
        #[arg(long)]
        out: PathBuf,
        /// Columns×rows×slices.
        #[arg(long, default_value = "256x256x120", value_parser = parse_dims)]
        size: [usize; 3],
        /// Slice plane of the written series.
        #[arg(long, default_value = "axial")]
        orientation: SliceOrientation,
        /// Seed of the lesion layout.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Also write the phantom's SYNTHETIC label volume (0 background, 1 lung, 2 ground
        /// glass, 3 consolidation) here as NIfTI (`.nii` or `.nii.gz`), on the series' grid.
        #[arg(long)]
        labels: Option<PathBuf>,
    },
}

/// What `lungdesk site-key` does.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum SiteKeyAction {
    /// Print a new random site key, for the site admin to hand to every desk of the site (run
    /// once per site; nothing is stored).
    New,
    /// Print the fingerprint of this desk's key (the same on every desk of the site); with
    /// `--reveal`, the key itself, to hand to another desk.
    Show {
        #[arg(long)]
        reveal: bool,
    },
    /// Give this desk the site's key, read from a file (`-`: standard input). Cases that have
    /// not left the desk get their keys under it; those already sent keep theirs.
    Set { file: PathBuf },
}

fn parse_dims(s: &str) -> Result<[usize; 3], String> {
    let parts: Vec<usize> = s
        .split(['x', 'X', '×'])
        .map(|p| p.trim().parse::<usize>().map_err(|e| format!("{p:?}: {e}")))
        .collect::<Result<_, _>>()?;
    match parts.as_slice() {
        [x, y, z] if *x > 0 && *y > 0 && *z > 0 && *x <= 4096 && *y <= 4096 && *z <= 8192 => Ok([*x, *y, *z]),
        _ => Err(format!("expected COLSxROWSxSLICES like 512x512x600, got {s:?}")),
    }
}

/// Errors of the command line, each naming the step that failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Volume(#[from] VolumeError),
    #[error("cannot write output: {0}")]
    Output(#[from] std::io::Error),
    #[error("cannot serialise report: {0}")]
    Json(#[from] serde_json::Error),
    #[error("output {0} must end in .nii or .nii.gz")]
    OutputName(PathBuf),
    #[error("cannot open the viewer window: {0}")]
    Window(String),
    #[error("analysis of {dir}: {source}")]
    Analysis { dir: PathBuf, source: lungdesk_inference::analysis::AnalysisError },
    #[error("cannot write {path}: {source}")]
    WriteFile { path: PathBuf, source: std::io::Error },
    #[error("cannot read {path}: {source}")]
    ReadFile { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Store(#[from] lungdesk_store::StoreError),
    #[error(transparent)]
    Import(#[from] lungdesk_store::ImportError),
    #[error(transparent)]
    Export(#[from] lungdesk_store::export::ExportError),
    #[error(transparent)]
    SiteKey(#[from] lungdesk_store::SiteKeyError),
    #[error(transparent)]
    Batch(#[from] crate::batch::BatchError),
    #[error("this desk has no site key yet: `lungdesk site-key set FILE` (or the desk's first-start form)")]
    NoSiteKey,
}

/// What `lungdesk analyze --json` prints: no patient-identifying field, only the series UID,
/// the method and the numbers.
#[derive(Debug, serde::Serialize)]
struct AnalysisReport<'a> {
    series_uid: &'a str,
    dims: [usize; 3],
    /// The RSNA grade 1–4; `null` when the AI cannot grade (then `cannot_grade` says why).
    grade: Option<u8>,
    #[serde(flatten)]
    analysis: &'a lungdesk_inference::analysis::Analysis,
    seconds: f64,
}

fn site_key(action: &SiteKeyAction, store: Option<&Path>, out: &mut dyn Write) -> Result<(), CliError> {
    use lungdesk_store::SiteKey;
    let open = || -> Result<(lungdesk_store::Store, lungdesk_store::Identity), CliError> {
        let path = store.map_or_else(crate::desk::default_store_path, Path::to_path_buf);
        let store = lungdesk_store::Store::open(&path)?;
        let identity = store.identity()?.ok_or(lungdesk_store::StoreError::NoIdentity)?;
        Ok((store, identity))
    };
    match action {
        SiteKeyAction::New => {
            let key = SiteKey::generate()?;
            writeln!(out, "{}", key.reveal())?;
            writeln!(
                out,
                "fingerprint {} (hand the key to every desk of the site; keep it secret)",
                key.fingerprint()
            )?;
        }
        SiteKeyAction::Show { reveal } => {
            let (_, identity) = open()?;
            let key = identity.site_key.ok_or(CliError::NoSiteKey)?;
            if *reveal {
                writeln!(out, "{}", key.reveal())?;
            }
            writeln!(out, "fingerprint {}", key.fingerprint())?;
        }
        SiteKeyAction::Set { file } => {
            let text = if file.as_os_str() == "-" {
                let mut s = String::new();
                std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)?;
                s
            } else {
                std::fs::read_to_string(file).map_err(|source| CliError::ReadFile { path: file.clone(), source })?
            };
            let key = SiteKey::parse(&text)?;
            let (mut store, identity) = open()?;
            let saved = store.set_identity(&lungdesk_store::Identity { site_key: Some(key), ..identity })?;
            let fingerprint = saved.site_key.as_ref().map(SiteKey::fingerprint).unwrap_or_default();
            writeln!(out, "site key set: fingerprint {fingerprint}")?;
        }
    }
    Ok(())
}

pub fn run(cli: Cli, out: &mut dyn Write) -> Result<(), CliError> {
    let command = cli.command.unwrap_or(Command::Desk { store: None, import: None });
    match command {
        Command::Inspect { dir, json, headers_only } => {
            let report = inspect::inspect(&dir, headers_only)?;
            if json {
                serde_json::to_writer_pretty(&mut *out, &report)?;
                writeln!(out)?;
            } else {
                write!(out, "{}", inspect::render_text(&report))?;
            }
        }
        Command::Export { dir, series, out: path } => {
            check_nifti_name(&path)?;
            let started = Instant::now();
            let progress = Progress::new();
            let report = scan(&dir, &progress)?;
            let series = report.pick(series.as_deref())?;
            let volume = load_series(series, &progress)?;
            let decoded = started.elapsed();
            nifti_export::write_nifti(&volume, &path)?;
            let [nx, ny, nz] = volume.geometry.dims;
            writeln!(
                out,
                "wrote {} ({nx}×{ny}×{nz}, series {}) — decoded in {:.2} s, written in {:.2} s",
                path.display(),
                volume.series_uid,
                decoded.as_secs_f64(),
                started.elapsed().saturating_sub(decoded).as_secs_f64()
            )?;
            for p in &volume.problems {
                writeln!(out, "problem: {p}")?;
            }
        }
        Command::Analyze { dir, series, json, mask, models, baseline, no_cache } => {
            let opts = AnalyzeOptions {
                series: series.as_deref(),
                json: json.as_deref(),
                mask: mask.as_deref(),
                models: models.as_deref(),
                baseline,
                no_cache,
            };
            analyze(&dir, &opts, out)?;
        }
        Command::View { dir } => {
            eframe::run_native(
                "LungDesk",
                crate::viewer::native_options(),
                Box::new(move |cc| Ok(Box::new(crate::viewer::ViewerApp::new(cc, dir)))),
            )
            .map_err(|e| CliError::Window(e.to_string()))?;
        }
        Command::Desk { store, import } => {
            let store = store.unwrap_or_else(crate::desk::default_store_path);
            eframe::run_native(
                "LungDesk",
                crate::viewer::native_options(),
                Box::new(move |cc| Ok(Box::new(crate::desk::DeskApp::new(cc, store, import)))),
            )
            .map_err(|e| CliError::Window(e.to_string()))?;
        }
        Command::Import { dir, store } => {
            let path = store.unwrap_or_else(crate::desk::default_store_path);
            let mut store = lungdesk_store::Store::open(&path)?;
            let identity = store.identity()?.ok_or(lungdesk_store::StoreError::NoIdentity)?;
            let started = Instant::now();
            let report = lungdesk_store::import_folder(&mut store, &identity, &dir, &Progress::new())?;
            writeln!(out, "{} in {:.1} s", report.summary(), started.elapsed().as_secs_f64())?;
            for (path, reason) in &report.skipped_examples {
                writeln!(out, "  skipped {}: {reason}", path.display())?;
            }
        }
        Command::Batch { store, import, models, no_bundled, sync, token_file, no_cache } => {
            let store = store.unwrap_or_else(crate::desk::default_store_path);
            let sync = sync.zip(token_file);
            crate::batch::run(
                &crate::batch::BatchOptions { store, imports: import, models, no_bundled, sync, no_cache },
                out,
            )?;
        }
        Command::SiteKey { action, store } => site_key(&action, store.as_deref(), out)?,
        Command::ExportLabels { out: file, store } => {
            let path = store.unwrap_or_else(crate::desk::default_store_path);
            let store = lungdesk_store::Store::open(&path)?;
            let n = lungdesk_store::export::export_to_file(&store, &file)?;
            writeln!(out, "{n} label(s) written to {}", file.display())?;
        }
        Command::Phantom { out: dir, size, orientation, seed, labels } => {
            phantom(
                &PhantomSpec { dims: size, orientation, seed, ..PhantomSpec::default() },
                &dir,
                labels.as_deref(),
                out,
            )?;
        }
    }
    Ok(())
}

/// `lungdesk phantom`: a SYNTHETIC series, and its label volume when asked.
fn phantom(spec: &PhantomSpec, dir: &Path, labels: Option<&Path>, out: &mut dyn Write) -> Result<(), CliError> {
    let written = write_phantom_series(spec, dir)?;
    if let Some(path) = labels {
        let geometry = lungdesk_volume::phantom::phantom_geometry(spec);
        let anatomy = lungdesk_volume::phantom::Anatomy::new(spec.seed, spec.marker);
        let voxels = lungdesk_volume::phantom::label_volume(&anatomy, &geometry);
        lungdesk_volume::nifti_export::write_label_nifti(&geometry, &voxels, path)?;
    }
    writeln!(
        out,
        "wrote SYNTHETIC phantom: {} slices of {}×{} to {} (series {})",
        written.files.len(),
        spec.dims[0],
        spec.dims[1],
        dir.display(),
        written.series_uid
    )?;
    Ok(())
}

/// Options of `lungdesk analyze`.
#[derive(Debug)]
struct AnalyzeOptions<'a> {
    series: Option<&'a str>,
    json: Option<&'a Path>,
    mask: Option<&'a Path>,
    models: Option<&'a Path>,
    baseline: bool,
    no_cache: bool,
}

/// `lungdesk analyze`: the pre-read (ONNX models, or the HU baseline when they cannot run),
/// quantification and the rule-based grade.
fn analyze(dir: &Path, opts: &AnalyzeOptions<'_>, out: &mut dyn Write) -> Result<(), CliError> {
    use lungdesk_inference::analysis::Engine;
    use lungdesk_inference::cache;
    if let Some(mask) = opts.mask {
        check_nifti_name(mask)?;
    }
    let started = Instant::now();
    let progress = Progress::new();
    let report = scan(dir, &progress)?;
    let volume = load_series(report.pick(opts.series)?, &progress)?;
    let analysis_error = |source| CliError::Analysis { dir: dir.to_owned(), source };
    let engine = if opts.baseline {
        Engine::Baseline { reason: "--baseline asked for the HU baseline".into() }
    } else {
        Engine::load(opts.models)
    };
    let cache_dir = if opts.no_cache { None } else { cache::default_dir() };
    let analysis = cache::analyze_cached(
        &engine,
        cache_dir.as_deref(),
        &volume.series_uid,
        &volume.geometry,
        &volume.voxels_hu,
        &progress,
    )
    .map_err(analysis_error)?;
    if let Some(mask) = opts.mask {
        nifti_export::write_label_nifti(&volume.geometry, &analysis.labels, mask)?;
    }
    let seconds = started.elapsed().as_secs_f64();
    let report = AnalysisReport {
        series_uid: &volume.series_uid,
        dims: volume.geometry.dims,
        grade: analysis.grade_number(),
        analysis: &analysis,
        seconds,
    };
    match opts.json {
        Some(path) if path.as_os_str() == "-" => {
            serde_json::to_writer_pretty(&mut *out, &report)?;
            writeln!(out)?;
            return Ok(());
        }
        Some(path) => {
            let file =
                std::fs::File::create(path).map_err(|source| CliError::WriteFile { path: path.to_owned(), source })?;
            serde_json::to_writer_pretty(std::io::BufWriter::new(file), &report)?;
        }
        None => {}
    }
    let q = &analysis.quantification;
    writeln!(out, "series {}", volume.series_uid)?;
    if let Some(read_as) = &analysis.read_as {
        writeln!(out, "{read_as}")?;
    }
    writeln!(out, "segmentation: {}", analysis.method)?;
    if let Some(reason) = &analysis.fallback_reason {
        writeln!(out, "models not used: {reason}")?;
    }
    for (side, s) in [("right", q.right), ("left", q.left)] {
        writeln!(
            out,
            "{side} lung {:.0} mL: GGO {:.1} mL ({:.1} %), consolidation {:.1} mL ({:.1} %), zones {:?}",
            s.lung_ml, s.ggo_ml, s.ggo_percent, s.consolidation_ml, s.consolidation_percent, s.zone_scores
        )?;
    }
    writeln!(
        out,
        "foci {}, peripheral fraction {:.2}, {}, severity {}/30",
        q.foci,
        q.peripheral_fraction,
        if q.bilateral { "bilateral" } else { "unilateral" },
        q.severity_score
    )?;
    match (&analysis.prediction, &analysis.cannot_grade) {
        (Some(p), _) => {
            writeln!(out, "predicted grade: {} {} ({})", p.grade as u8, p.grade.name(), p.method)?;
            writeln!(out, "why: {}", p.explanation)?;
        }
        (None, Some(c)) => {
            writeln!(out, "predicted grade: — cannot grade ({})", c.code.as_str())?;
            writeln!(out, "why: {}", c.reason)?;
        }
        (None, None) => {}
    }
    let source = if analysis.from_cache { "from the per-series cache" } else { "computed" };
    let what = if analysis.models.is_empty() {
        "the HU baseline is deterministic, not a trained model"
    } else {
        "lesion model trained on 50 real radiologist-labelled slices (8-bit, estimated HU) and SYNTHETIC insertions; see docs/MODELS.md"
    };
    writeln!(out, "({seconds:.1} s, {source}; {what})")?;
    if let Some(path) = opts.json {
        writeln!(out, "wrote {}", path.display())?;
    }
    if let Some(path) = opts.mask {
        writeln!(out, "wrote {}", path.display())?;
    }
    Ok(())
}

fn check_nifti_name(path: &Path) -> Result<(), CliError> {
    // Lower-cased so that .NII.GZ is accepted too.
    let name = path.to_string_lossy().to_ascii_lowercase();
    #[allow(clippy::case_sensitive_file_extension_comparisons)] // `name` is lower-cased above
    if name.ends_with(".nii") || name.ends_with(".nii.gz") {
        Ok(())
    } else {
        Err(CliError::OutputName(path.to_owned()))
    }
}
