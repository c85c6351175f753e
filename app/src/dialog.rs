//! The system folder dialog, on its own thread (it blocks until the reader picks), for the
//! viewer's Open and the desk's Import.

use std::path::PathBuf;
use std::sync::mpsc::{Receiver, TryRecvError, channel};
use std::time::{Duration, Instant};

use crate::error::ViewerError;

/// A dialog that "closes" sooner than this after opening was never shown: rfd's portal
/// backend answers "nothing picked" at once when the desktop has no XDG desktop portal (it
/// only writes to stderr), and no reader cancels a dialog that fast.
pub const NEVER_SHOWN: Duration = Duration::from_millis(250);

/// A folder dialog that may be open.
#[derive(Debug, Default)]
pub struct FolderDialog {
    rx: Option<Receiver<Result<Option<PathBuf>, ViewerError>>>,
    opened: Option<Instant>,
}

impl FolderDialog {
    /// Opens the dialog titled `title` on the `lungdesk-dialog` thread (not when one is open).
    pub fn open(&mut self, title: &'static str) -> Result<(), ViewerError> {
        if self.rx.is_some() {
            return Ok(());
        }
        let (tx, rx) = channel();
        std::thread::Builder::new()
            .name("lungdesk-dialog".into())
            .spawn(move || {
                let picked = std::panic::catch_unwind(|| rfd::FileDialog::new().set_title(title).pick_folder())
                    .map_err(|_| ViewerError::Dialog);
                let _ = tx.send(picked);
            })
            .map_err(|source| ViewerError::Spawn { name: "lungdesk-dialog", source })?;
        self.rx = Some(rx);
        self.opened = Some(Instant::now());
        Ok(())
    }

    pub fn is_open(&self) -> bool {
        self.rx.is_some()
    }

    /// What the reader picked (`Ok(None)`: cancelled), once the dialog has closed;
    /// [`ViewerError::NoDialog`] when it closed before it could have been seen.
    pub fn poll(&mut self) -> Option<Result<Option<PathBuf>, ViewerError>> {
        let rx = self.rx.as_ref()?;
        let answer = match rx.try_recv() {
            Ok(answer) => answer,
            Err(TryRecvError::Disconnected) => Err(ViewerError::WorkerGone("lungdesk-dialog")),
            Err(TryRecvError::Empty) => return None,
        };
        self.rx = None;
        let open_for = self.opened.take().map(|t| t.elapsed());
        Some(match answer {
            Ok(None) if open_for.is_some_and(|d| d < NEVER_SHOWN) => Err(ViewerError::NoDialog),
            other => other,
        })
    }
}
