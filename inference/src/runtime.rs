//! Finding and loading ONNX Runtime 1.31 (through `ort`'s `load-dynamic`), with no setting
//! needed from the user after the README's set-up or a package install.
//!
//! Search order, first hit wins:
//! 1. `LUNGDESK_ONNXRUNTIME` or `ORT_DYLIB_PATH`, when set (then only that file);
//! 2. next to the executable, and `../lib/lungdesk/` from it (the Debian package);
//! 3. `$XDG_DATA_HOME/lungdesk/onnxruntime/` (default `~/.local/share/...`), where
//!    `scripts/setup.sh` unpacks the PyPI wheel `onnxruntime==1.31.1`;
//! 4. a Python `onnxruntime` package: `$VIRTUAL_ENV`, `~/.local`, `/usr/local` and `/usr`
//!    site- or dist-packages.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The library file name the PyPI wheel ships.
pub const LIBRARY_FILE: &str = "libonnxruntime.so.1.31.1";
/// The ONNX Runtime version `ort` 2.0.0-rc.15 needs.
pub const VERSION: &str = "1.31";

/// Why ONNX Runtime is not available. Cloneable: the first failure is kept for the process.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum RuntimeError {
    #[error(
        "ONNX Runtime {VERSION} not found (looked for {LIBRARY_FILE} in: {}). Fix: run scripts/setup.sh, or `pip install onnxruntime==1.31.1`, or set LUNGDESK_ONNXRUNTIME to the library file",
        searched.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
    )]
    NotFound { searched: Vec<PathBuf> },
    #[error("{variable} names {path}, which does not exist. Fix: point it at {LIBRARY_FILE}, or unset it")]
    EnvPathMissing { variable: &'static str, path: PathBuf },
    #[error(
        "could not load ONNX Runtime from {path}: {detail}. LungDesk needs ONNX Runtime {VERSION} (`pip install onnxruntime==1.31.1`)"
    )]
    Load { path: PathBuf, detail: String },
}

/// The loaded runtime.
#[derive(Debug)]
pub struct Runtime {
    pub library: PathBuf,
    pub environment: ort::environment::Environment,
}

/// Where to look, in order (see the module docs). Only existing files are returned by
/// [`locate`]; this lists every place, for messages and tests.
pub fn search_paths() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Ok(exe) = std::env::current_exe()
        && let Some(dir) = exe.parent()
    {
        dirs.push(dir.to_path_buf());
        dirs.push(dir.join("../lib/lungdesk"));
    }
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let data_home = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| home.as_ref().map(|h| h.join(".local/share")));
    if let Some(d) = &data_home {
        dirs.push(d.join("lungdesk/onnxruntime"));
    }
    let mut lib_dirs: Vec<PathBuf> = Vec::new();
    if let Some(venv) = std::env::var_os("VIRTUAL_ENV") {
        lib_dirs.push(PathBuf::from(venv).join("lib"));
    }
    if let Some(h) = &home {
        lib_dirs.push(h.join(".local/lib"));
    }
    lib_dirs.push("/usr/local/lib".into());
    lib_dirs.push("/usr/lib".into());
    for lib in lib_dirs {
        let Ok(entries) = std::fs::read_dir(&lib) else { continue };
        let mut pythons: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("python3")))
            .collect();
        pythons.sort();
        for python in pythons.iter().rev() {
            for packages in ["site-packages", "dist-packages"] {
                dirs.push(python.join(packages).join("onnxruntime/capi"));
            }
        }
    }
    dirs.into_iter().map(|d| d.join(LIBRARY_FILE)).collect()
}

/// The library file to load, or why there is none.
pub fn locate() -> Result<PathBuf, RuntimeError> {
    for variable in ["LUNGDESK_ONNXRUNTIME", "ORT_DYLIB_PATH"] {
        if let Some(value) = std::env::var_os(variable).filter(|v| !v.is_empty()) {
            let path = PathBuf::from(value);
            return if path.is_file() { Ok(path) } else { Err(RuntimeError::EnvPathMissing { variable, path }) };
        }
    }
    let searched = search_paths();
    searched.iter().find(|p| p.is_file()).cloned().ok_or(RuntimeError::NotFound { searched })
}

fn load(path: &Path) -> Result<Runtime, RuntimeError> {
    let load_error = |detail: String| RuntimeError::Load { path: path.to_owned(), detail };
    let builder = ort::init_from(path).map_err(|e| load_error(e.to_string()))?;
    let environment = builder.with_name("lungdesk").build().map_err(|e| load_error(e.to_string()))?;
    Ok(Runtime { library: path.to_owned(), environment })
}

static RUNTIME: OnceLock<Result<Runtime, RuntimeError>> = OnceLock::new();

/// The process's ONNX Runtime, loaded on first use. A failure is kept too: the library is
/// looked for once per process.
pub fn runtime() -> Result<&'static Runtime, RuntimeError> {
    RUNTIME.get_or_init(|| locate().and_then(|path| load(&path))).as_ref().map_err(Clone::clone)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_covers_the_setup_folder_and_python_packages() {
        let paths = search_paths();
        assert!(paths.iter().all(|p| p.ends_with(LIBRARY_FILE)));
        assert!(paths.iter().any(|p| p.to_string_lossy().contains("lungdesk/onnxruntime")), "{paths:?}");
    }

    #[test]
    fn not_found_says_where_it_looked_and_how_to_fix_it() {
        let e = RuntimeError::NotFound { searched: vec!["/opt/x/libonnxruntime.so.1.31.1".into()] };
        let text = e.to_string();
        assert!(text.contains("/opt/x/libonnxruntime.so.1.31.1") && text.contains("scripts/setup.sh"), "{text}");
        assert!(text.contains("pip install onnxruntime==1.31.1"), "{text}");
    }
}
