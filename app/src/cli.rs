//! The command line: `inspect`, `export` and `phantom`.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use clap::{Parser, Subcommand};
use lungdesk_volume::phantom::{PhantomSpec, SliceOrientation, write_phantom_series};
use lungdesk_volume::{Progress, VolumeError, load_series, nifti_export, scan};

use crate::inspect;

#[derive(Debug, Parser)]
#[command(name = "lungdesk", version, about = "CT review for COVID-19 pneumonia grading")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
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
    /// Segment lungs, ground glass and consolidation, quantify them and predict the RSNA grade.
    Analyze {
        dir: PathBuf,
        /// Series Instance UID; the largest CT series when left out.
        #[arg(long)]
        series: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
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
    },
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
    Analysis { dir: PathBuf, source: lungdesk_inference::InferenceError },
}

/// What `lungdesk analyze --json` prints: no patient-identifying field, only the series UID,
/// the method and the numbers.
#[derive(Debug, serde::Serialize)]
struct AnalysisReport<'a> {
    series_uid: &'a str,
    dims: [usize; 3],
    segmentation_method: &'a str,
    quantification: &'a lungdesk_inference::quantify::Quantification,
    prediction: &'a lungdesk_inference::grade::GradePrediction,
    seconds: f64,
}

pub fn run(cli: Cli, out: &mut dyn Write) -> Result<(), CliError> {
    match cli.command {
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
            // Lower-cased so that .NII.GZ is accepted too.
            let name = path.to_string_lossy().to_ascii_lowercase();
            #[allow(clippy::case_sensitive_file_extension_comparisons)] // `name` is lower-cased above
            if !(name.ends_with(".nii") || name.ends_with(".nii.gz")) {
                return Err(CliError::OutputName(path));
            }
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
        Command::Analyze { dir, series, json } => analyze(&dir, series.as_deref(), json, out)?,
        Command::View { dir } => {
            eframe::run_native(
                "LungDesk",
                crate::viewer::native_options(),
                Box::new(move |cc| Ok(Box::new(crate::viewer::ViewerApp::new(cc, dir)))),
            )
            .map_err(|e| CliError::Window(e.to_string()))?;
        }
        Command::Phantom { out: dir, size, orientation, seed } => {
            let spec = PhantomSpec { dims: size, orientation, seed, ..PhantomSpec::default() };
            let written = write_phantom_series(&spec, &dir)?;
            writeln!(
                out,
                "wrote SYNTHETIC phantom: {} slices of {}×{} to {} (series {})",
                written.files.len(),
                size[0],
                size[1],
                dir.display(),
                written.series_uid
            )?;
        }
    }
    Ok(())
}

/// `lungdesk analyze`: HU baseline segmentation, quantification and the rule-based grade.
fn analyze(dir: &std::path::Path, series: Option<&str>, json: bool, out: &mut dyn Write) -> Result<(), CliError> {
    let started = Instant::now();
    let progress = Progress::new();
    let report = scan(dir, &progress)?;
    let volume = load_series(report.pick(series)?, &progress)?;
    let analysis_error = |source| CliError::Analysis { dir: dir.to_owned(), source };
    let params = lungdesk_inference::baseline::BaselineParams::default();
    let found = lungdesk_inference::baseline::segment(&volume.geometry, &volume.voxels_hu, &params, &progress)
        .map_err(analysis_error)?;
    let q = lungdesk_inference::quantify::quantify(&volume.geometry, &found.labels).map_err(analysis_error)?;
    let prediction = lungdesk_inference::grade::grade(&q);
    let seconds = started.elapsed().as_secs_f64();
    if json {
        let report = AnalysisReport {
            series_uid: &volume.series_uid,
            dims: volume.geometry.dims,
            segmentation_method: &found.method,
            quantification: &q,
            prediction: &prediction,
            seconds,
        };
        serde_json::to_writer_pretty(&mut *out, &report)?;
        writeln!(out)?;
    } else {
        writeln!(out, "series {}", volume.series_uid)?;
        writeln!(out, "segmentation: {}", found.method)?;
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
        writeln!(
            out,
            "predicted grade: {} {} ({})",
            prediction.grade as u8,
            prediction.grade.name(),
            prediction.method
        )?;
        writeln!(out, "why: {}", prediction.explanation)?;
        writeln!(out, "({seconds:.1} s; the HU baseline is deterministic, not a trained model)")?;
    }
    Ok(())
}
