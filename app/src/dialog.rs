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

#[cfg(test)]
mod tests {
    use super::*;

    fn answered(answer: Option<PathBuf>, open_for: Duration) -> Option<Result<Option<PathBuf>, ViewerError>> {
        let (tx, rx) = channel();
        tx.send(Ok(answer)).expect("send");
        let mut dialog = FolderDialog { rx: Some(rx), opened: Instant::now().checked_sub(open_for) };
        dialog.poll()
    }

    #[test]
    fn a_dialog_that_closes_before_it_could_be_seen_is_no_dialog_and_a_slow_cancel_is_a_cancel() {
        assert!(matches!(answered(None, Duration::ZERO), Some(Err(ViewerError::NoDialog))));
        assert!(matches!(answered(None, Duration::from_secs(2)), Some(Ok(None))), "the reader cancelled");
        let picked = answered(Some(PathBuf::from("/data/ct")), Duration::ZERO);
        assert!(matches!(picked, Some(Ok(Some(p))) if p == std::path::Path::new("/data/ct")), "a pick is a pick");
    }
}
